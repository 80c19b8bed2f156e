package io.jvmm.tests.kvm;

import io.jvmm.emulator.Main;
import io.jvmm.emulator.machine.ExitStatus;
import io.jvmm.emulator.machine.KvmMachine;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** User mistakes and host limits: one clear line each, a non-zero status, no stack trace. */
@Timeout(60)
class CommandLineErrorsTest {
    @TempDir
    Path dir;

    record Result(int status, String err, String out) {
    }

    private Result jvmm(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status = Main.run(args, out, new PrintStream(err, true, StandardCharsets.UTF_8));
        Result r = new Result(status, err.toString(StandardCharsets.UTF_8), out.toString(StandardCharsets.UTF_8));
        assertFalse(r.err().contains("\tat ") || r.err().contains("Exception"), "no stack trace for a user error: " + r.err());
        return r;
    }

    @Test
    void aKernelThatIsNeitherBzImageNorElfIsRefused() throws Exception {
        KvmAvailable.assume();
        Path junk = dir.resolve("junk.bin");
        Files.write(junk, new byte[8192]);
        Result r = jvmm("-m", "64", "-kernel", junk.toString());
        assertEquals(ExitStatus.USER_ERROR, r.status());
        assertTrue(r.err().startsWith("jvmm: kernel " + junk + " is neither a bzImage"), r.err());
    }

    @Test
    void tooLittleMemoryIsRefused() {
        Result r = jvmm("-m", "8", "-kernel", TestGuest.elf().toString());
        assertEquals(ExitStatus.USER_ERROR, r.status());
        assertEquals("jvmm: -m 8: at least 16 MiB of RAM is needed\n", r.err());
    }

    @Test
    void anUnknownDeviceIsRefusedByName() {
        Result r = jvmm("-kernel", TestGuest.elf().toString(), "-device", "virtio-gpu-pci");
        assertEquals(ExitStatus.USER_ERROR, r.status());
        assertTrue(r.err().startsWith("jvmm: -device virtio-gpu-pci: unknown device"), r.err());
    }

    @Test
    void anUnknownOptionIsRefusedByName() {
        Result r = jvmm("-kernel", TestGuest.elf().toString(), "-bogus");
        assertEquals(ExitStatus.USER_ERROR, r.status());
        assertTrue(r.err().contains("-bogus"), r.err());
    }

    @Test
    void noKvmDeviceIsAHostErrorNamingTheDevice() {
        String previous = System.getProperty(KvmMachine.KVM_DEVICE_PROPERTY);
        System.setProperty(KvmMachine.KVM_DEVICE_PROPERTY, dir.resolve("no-kvm-here").toString());
        try {
            Result r = jvmm("-kernel", TestGuest.elf().toString());
            assertEquals(ExitStatus.HOST_ERROR, r.status());
            assertTrue(r.err().startsWith("jvmm: ") && r.err().contains(dir.resolve("no-kvm-here").toString()), r.err());
        } finally {
            if (previous == null) {
                System.clearProperty(KvmMachine.KVM_DEVICE_PROPERTY);
            } else {
                System.setProperty(KvmMachine.KVM_DEVICE_PROPERTY, previous);
            }
        }
    }

    @Test
    void helpNamesTheSupportedOptions() {
        Result r = jvmm("--help");
        assertEquals(0, r.status());
        for (String option : new String[] {"-m", "-smp", "-kernel", "-initrd", "-append", "-object", "-chardev", "-drive", "-device", "-no-reboot"}) {
            assertTrue(r.out().contains(option), option + " in " + r.out());
        }
    }
}
