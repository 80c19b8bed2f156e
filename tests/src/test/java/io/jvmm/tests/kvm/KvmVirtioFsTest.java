package io.jvmm.tests.kvm;

import io.jvmm.platform.config.MachineConfig;
import io.jvmm.emulator.machine.KvmMachine;
import io.jvmm.tests.fs.Virtiofsd;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The freestanding test guest speaks FUSE itself, under KVM, through jvmm's vhost-user-fs-pci to
 * Debian's virtiofsd: INIT, LOOKUP, OPEN, READ of a 64 MiB host file verified, WRITE of a new
 * file the host then checks, and 10 cycles of device reset + re-initialisation.
 */
@Timeout(180)
class KvmVirtioFsTest {
    private static final long FILE_BYTES = 64L << 20;
    private static final Path FS_PATTERN = Path.of("guest", "build", "fs-pattern").toAbsolutePath();

    @TempDir
    Path dir;
    private Virtiofsd virtiofsd;
    private Path share;

    @BeforeEach
    void setUp() throws Exception {
        KvmAvailable.assume();
        Assumptions.assumeTrue(Virtiofsd.available(), "virtiofsd is not installed at " + Virtiofsd.BINARY + " (package qemu-system-common)");
        share = Files.createDirectory(dir.resolve("share"));
        run(FS_PATTERN.toString(), "source", Long.toString(FILE_BYTES)).redirectOutput(share.resolve("data.bin").toFile()).start().waitFor();
        assertEquals(FILE_BYTES, Files.size(share.resolve("data.bin")));
        virtiofsd = Virtiofsd.start(share, dir);
    }

    @AfterEach
    void tearDown() {
        if (virtiofsd != null) {
            virtiofsd.close();
        }
    }

    private static ProcessBuilder run(String... command) {
        return new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT);
    }

    @Test
    void theTestGuestReadsWritesAndResetsThroughVirtiofsd() throws Exception {
        MachineConfig config = KvmConfig.parse("256", "1", TestGuest.elf(), null,
                "fs=data.bin require=fs", true, List.of("memory-backend-memfd,id=mem,size=256M,share=on"),
                List.of("socket,id=c0,path=" + virtiofsd.socket), List.of(),
                List.of("vhost-user-fs-pci,chardev=c0,tag=jvmmfs", "isa-debug-exit,iobase=0x501,iosize=2"));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        KvmMachine.MachineExit exit;
        try (KvmMachine machine = KvmMachine.create(config, out)) {
            exit = machine.run();
        }
        String console = out.toString(StandardCharsets.US_ASCII);
        assertEquals(TestGuest.PASS, exit.status(), console + "\n" + exit.reason() + "\nvirtiofsd: " + virtiofsd.logTail());
        assertTrue(console.contains("fs: tag jvmmfs, request queues 1"), console);
        assertTrue(console.matches("(?s).*fs: init ok 7\\.\\d+.*"), console);
        assertTrue(console.contains("fs: lookup data.bin node"), console);

        Process checksum = run(FS_PATTERN.toString(), "checksum").redirectInput(share.resolve("data.bin").toFile()).start();
        String expected = new String(checksum.getInputStream().readAllBytes(), StandardCharsets.US_ASCII).trim();
        assertTrue(checksum.waitFor(30, TimeUnit.SECONDS));
        assertTrue(console.contains("fs: read data.bin " + FILE_BYTES + " ok checksum=" + expected),
                "the guest's checksum of the 64 MiB file equals the host's (" + expected + "): " + console);

        Process written = run(FS_PATTERN.toString(), "written").start();
        byte[] expectedFile = written.getInputStream().readAllBytes();
        assertTrue(written.waitFor(30, TimeUnit.SECONDS));
        assertArrayEquals(expectedFile, Files.readAllBytes(share.resolve("jvmm-guest-wrote")), "the host sees what the guest wrote");
        assertTrue(console.contains("fs: reset cycles 10 ok"), console);
    }
}
