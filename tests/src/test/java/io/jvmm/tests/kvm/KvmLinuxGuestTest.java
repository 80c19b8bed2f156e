package io.jvmm.tests.kvm;

import io.jvmm.platform.config.MachineConfig;
import io.jvmm.emulator.machine.KvmMachine;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Debian's kernel with a busybox initramfs (scripts/build-guest-image) booted by jvmm under KVM.
 * These run on hosts whose KVM can boot a stock kernel (kvm_intel, kvm_amd); on a PVM host they
 * are skipped with the reason (see {@link KvmAvailable#assumeStockLinuxBoots()}).
 */
@Timeout(600)
class KvmLinuxGuestTest {
    /** debug-exit status 0 from /init -> (0 << 1) | 1. */
    private static final int INIT_PASS = 1;
    private static Path kernel;
    private static Path initrd;

    @TempDir
    Path dir;
    private Path disk;

    /** Skips each test (so each is reported skipped, with the reason) before building the image once. */
    @BeforeEach
    void assumeAndBuild() throws Exception {
        KvmAvailable.assumeStockLinuxBoots();
        synchronized (KvmLinuxGuestTest.class) {
            if (kernel == null) {
                buildImage();
            }
        }
    }

    private static void buildImage() throws Exception {
        Process p = new ProcessBuilder(Path.of("..", "scripts", "build-guest-image").toString())
                .redirectError(ProcessBuilder.Redirect.INHERIT).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(900, TimeUnit.SECONDS), "scripts/build-guest-image did not finish");
        assertEquals(0, p.exitValue(), "scripts/build-guest-image failed: " + out);
        for (String line : out.split("\n")) {
            if (line.startsWith("JVMM_GUEST_KERNEL=")) {
                kernel = Path.of(line.substring("JVMM_GUEST_KERNEL=".length()));
            } else if (line.startsWith("JVMM_GUEST_INITRD=")) {
                initrd = Path.of(line.substring("JVMM_GUEST_INITRD=".length()));
            }
        }
        assertNotNull(kernel, out);
        assertNotNull(initrd, out);
    }

    @BeforeEach
    void disk() throws Exception {
        disk = dir.resolve("disk.img");
        byte[] data = new byte[8 << 20];
        new Random(7).nextBytes(data);
        Files.write(disk, data);
    }

    private record Run(int status, String console) {
    }

    private Run boot(String command) throws Exception {
        MachineConfig config = KvmConfig.parse("512", "2", kernel, initrd,
                "console=ttyS0 panic=-1 jvmm.cmd=\"" + command + "\"", true, List.of(), List.of(),
                List.of("file=" + disk + ",format=raw,if=none,id=d0"),
                List.of("virtio-blk-pci,drive=d0", "virtio-rng-pci", "isa-debug-exit,iobase=0x501,iosize=2"));
        ByteArrayOutputStream console = new ByteArrayOutputStream();
        try (KvmMachine machine = KvmMachine.create(config, console)) {
            return new Run(machine.run().status(), console.toString(StandardCharsets.UTF_8));
        }
    }

    @Test
    void theKernelReadsTheDiskWithTheHostsSha256() throws Exception {
        String sha = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(disk)));
        Run run = boot("sha256sum /dev/vda");
        assertEquals(INIT_PASS, run.status(), run.console());
        assertTrue(run.console().contains(sha + "  /dev/vda"), run.console());
    }

    @Test
    void virtioDevicesUseMsixVectors() throws Exception {
        Run run = boot("cat /sys/bus/pci/devices/*/msi_irqs/* | sort | uniq -c; grep -c virtio /proc/interrupts");
        assertEquals(INIT_PASS, run.status(), run.console());
        assertTrue(run.console().contains("msix"), "msi_irqs of the virtio functions say msix: " + run.console());
    }

    @Test
    void aRebootEndsTheVmWithStatusZero() throws Exception {
        // No ACPI here, so Linux's poweroff cannot turn the machine off; reboot goes through the
        // i8042 reset line, which jvmm (never rebooting) turns into a clean exit.
        Run run = boot("reboot -f");
        assertEquals(0, run.status(), run.console());
    }

    @Test
    void theGuestsWritesReachTheHostFile() throws Exception {
        Run run = boot("printf JVMM-LINUX-WROTE-THIS | dd of=/dev/vda bs=512 seek=100 conv=notrunc,fsync 2>/dev/null");
        assertEquals(INIT_PASS, run.status(), run.console());
        try (RandomAccessFile f = new RandomAccessFile(disk.toFile(), "r")) {
            byte[] b = new byte[21];
            f.seek(100 * 512);
            f.readFully(b);
            assertEquals("JVMM-LINUX-WROTE-THIS", new String(b, StandardCharsets.US_ASCII));
        }
    }
}
