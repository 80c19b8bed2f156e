package io.jvmm.tests.kvm;

import io.jvmm.platform.config.MachineConfig;
import io.jvmm.emulator.machine.ExitStatus;
import io.jvmm.emulator.machine.KvmMachine;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The freestanding test guest under this machine's KVM: its own drivers enumerate PCI, program
 * MSI-X through the local APIC, and drive jvmm's virtio-blk and virtio-rng through real rings,
 * with notifications on ioeventfds and completions on irqfd routes.
 */
@Timeout(120)
class KvmTestGuestTest {
    private static final String MARKER = "JVMM-KVM-TEST-00";

    @TempDir
    Path dir;
    private Path disk;

    record GuestRun(KvmMachine.MachineExit exit, String console, long vmmInterrupts) {
    }

    @BeforeEach
    void setUp() throws Exception {
        KvmAvailable.assume();
        disk = dir.resolve("disk.img");
        try (RandomAccessFile f = new RandomAccessFile(disk.toFile(), "rw")) {
            f.setLength(16 << 20);
            f.write(MARKER.getBytes(StandardCharsets.US_ASCII));
        }
    }

    private GuestRun boot(int cpus, String append, boolean devices) throws Exception {
        List<String> drives = new ArrayList<>();
        List<String> deviceOptions = new ArrayList<>(List.of("isa-debug-exit,iobase=0x501,iosize=2"));
        if (devices) {
            drives.add("file=" + disk + ",format=raw,if=none,id=d0");
            deviceOptions.add("virtio-blk-pci,drive=d0");
            deviceOptions.add("virtio-rng-pci");
        }
        MachineConfig config = KvmConfig.parse("256", Integer.toString(cpus), TestGuest.elf(),
                null, append, true, List.of(), List.of(), drives, deviceOptions);
        ByteArrayOutputStream console = new ByteArrayOutputStream();
        try (KvmMachine machine = KvmMachine.create(config, console)) {
            KvmMachine.MachineExit exit = machine.run();
            return new GuestRun(exit, console.toString(StandardCharsets.US_ASCII), machine.interruptsDelivered());
        }
    }

    @Test
    void theGuestDrivesVirtioBlkAndRngThroughMsixAndExitsWithItsStatus() throws Exception {
        GuestRun run = boot(1, "require=blk,rng", true);
        assertEquals(TestGuest.PASS, run.exit().status(), run.console() + "\n" + run.exit().reason());
        assertTrue(run.console().contains("jvmm-guest: PASS"), run.console());
        assertTrue(run.console().contains("blk: capacity=32768 write+read ok"), run.console());
        assertTrue(run.console().contains("rng: 64 bytes ok"), run.console());
        String markerHex = hex(MARKER.getBytes(StandardCharsets.US_ASCII));
        assertTrue(run.console().contains("blk: sector0 " + markerHex), "the guest read the host's sector 0: " + run.console());

        // Completions came by MSI-X: the guest's count equals what the VMM delivered.
        Matcher irqs = Pattern.compile("irqs: (\\d+)").matcher(run.console());
        assertTrue(irqs.find(), run.console());
        long guestCount = Long.parseLong(irqs.group(1));
        assertTrue(guestCount >= 4, "3 blk completions and 1 rng completion at least: " + run.console());
        assertEquals(guestCount, run.vmmInterrupts(), "interrupts counted by the guest vs delivered by the VMM");

        // The host file holds exactly what the guest wrote.
        byte[] image = Files.readAllBytes(disk);
        ByteBuffer b = ByteBuffer.wrap(image).order(ByteOrder.LITTLE_ENDIAN);
        for (int s = TestGuest.PATTERN_FIRST_SECTOR; s < TestGuest.PATTERN_FIRST_SECTOR + TestGuest.PATTERN_SECTORS; s++) {
            for (int i = 0; i < 64; i++) {
                assertEquals(TestGuest.patternWord(s, i), b.getLong(s * 512 + i * 8), "sector " + s + " word " + i);
            }
        }
        for (int i = (TestGuest.PATTERN_FIRST_SECTOR + TestGuest.PATTERN_SECTORS) * 512; i < image.length; i += 4096) {
            assertEquals(0, image[i], "the guest wrote nothing beyond its sectors (offset " + i + ")");
        }
    }

    @Test
    void twoVcpusBothCheckIn() throws Exception {
        GuestRun run = boot(2, "", true);
        assertEquals(TestGuest.PASS, run.exit().status(), run.console() + "\n" + run.exit().reason());
        assertTrue(run.console().contains("jvmm-guest: start cpus=2"), run.console());
        assertTrue(run.console().contains("cpus: apic ids 0 1"), run.console());
    }

    @Test
    void aTripleFaultEndsTheVmWithTheReasonAndRegisters() throws Exception {
        GuestRun run = boot(1, "fault=triple", false);
        assertEquals(ExitStatus.GUEST_CRASHED, run.exit().status());
        assertTrue(run.exit().reason().contains("triple-faulted"), run.exit().reason());
        assertTrue(run.exit().reason().contains("rip=0x"), "registers shown: " + run.exit().reason());
    }

    @Test
    void anUnsupportedInstructionEndsTheVmNonZeroWithTheReason() throws Exception {
        GuestRun run = boot(1, "fault=int3", false);
        assertNotEquals(0, run.exit().status());
        if (run.exit().status() == ExitStatus.EMULATION_FAILED) {
            // PVM cannot emulate int3: KVM reports an internal error, shown with the registers.
            assertTrue(run.exit().reason().contains("INTERNAL_ERROR"), run.exit().reason());
            assertTrue(run.exit().reason().contains("rip=0x"), run.exit().reason());
        } else {
            // An ordinary KVM delivers #BP to the guest, whose handler reports and fails.
            assertEquals(TestGuest.FAIL, run.exit().status(), run.console());
            assertTrue(run.console().contains("FAIL"), run.console());
        }
    }

    private static String hex(byte[] bytes) {
        StringBuilder sb = new StringBuilder();
        for (byte x : bytes) {
            sb.append(String.format("%02x", x));
        }
        return sb.toString();
    }
}
