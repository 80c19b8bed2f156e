package io.jvmm.tests.kvm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jvmm.emulator.machine.KvmMachine;
import io.jvmm.platform.config.MachineConfig;
import io.jvmm.platform.registry.BackendKind;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Under this machine's KVM, the freestanding test guest (tests/guest, src/virtio_9p.c) speaks 9P2000.L
 * to jvmm's virtio-9p-pci with the in-process server on a host directory: version, attach, walk,
 * lopen and read of a 2 MiB host file made by tools/fs-pattern, every word checked in the guest
 * and its checksum compared with the host's. Skipped where /dev/kvm is missing or unusable.
 */
@Timeout(120)
class KvmP9Test {
    private static final long FILE_BYTES = 2L << 20;
    private static final Path FS_PATTERN = Path.of("guest", "build", "fs-pattern").toAbsolutePath();

    @TempDir
    Path dir;

    @Test
    void theTestGuestReadsAHostFileOverVirtio9p() throws Exception {
        KvmAvailable.assume();
        Path share = Files.createDirectory(dir.resolve("share"));
        new ProcessBuilder(FS_PATTERN.toString(), "source", Long.toString(FILE_BYTES)).redirectError(ProcessBuilder.Redirect.INHERIT)
                .redirectOutput(share.resolve("data.bin").toFile()).start().waitFor();
        assertEquals(FILE_BYTES, Files.size(share.resolve("data.bin")));
        MachineConfig config = KvmConfig.parse("256", "1", TestGuest.elf(), null, "p9=data.bin require=9p", true,
                Map.of(BackendKind.FSDEV, List.of("local,id=fs0,path=" + share + ",security_model=none")),
                List.of("virtio-9p-pci,fsdev=fs0,mount_tag=jvmm9p", "isa-debug-exit,iobase=0x501,iosize=2"));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        KvmMachine.MachineExit exit;
        try (KvmMachine machine = KvmMachine.create(config, out)) {
            exit = machine.run();
        }
        String console = out.toString(StandardCharsets.US_ASCII);
        assertEquals(TestGuest.PASS, exit.status(), console + "\n" + exit.reason());
        assertTrue(console.contains("9p: version 9P2000.L msize 8192"), console);
        assertTrue(console.contains("9p: walk data.bin ok"), console);
        Process checksum = new ProcessBuilder(FS_PATTERN.toString(), "checksum").redirectInput(share.resolve("data.bin").toFile()).start();
        String expected = new String(checksum.getInputStream().readAllBytes(), StandardCharsets.US_ASCII).trim();
        assertTrue(checksum.waitFor(30, TimeUnit.SECONDS));
        assertTrue(console.contains("9p: read data.bin " + FILE_BYTES + " ok checksum=" + expected),
                "the guest's checksum equals the host's (" + expected + "): " + console);
    }
}
