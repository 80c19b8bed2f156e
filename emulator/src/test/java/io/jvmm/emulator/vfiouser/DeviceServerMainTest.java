package io.jvmm.emulator.vfiouser;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jvmm.emulator.Main;
import io.jvmm.emulator.config.DevicePlan;
import io.jvmm.emulator.config.UserError;
import io.jvmm.emulator.machine.ExitStatus;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The command line of the device server: which socket serves which device, and its user errors. */
class DeviceServerMainTest {

    @Test
    void oneSocketPerDeviceOrOneSocketWithSuffixes() {
        List<DevicePlan> plans = List.of(new DevicePlan.VirtioRng("rng0"), new DevicePlan.VirtioRng("rng1"));
        Path a = Path.of("/tmp/x/a.sock");
        Path b = Path.of("/tmp/x/b.sock");
        assertEquals(List.of(a, b), DeviceServerMain.socketsFor(List.of(a, b), plans));
        assertEquals(List.of(a, Path.of("/tmp/x/a.sock-rng1")), DeviceServerMain.socketsFor(List.of(a), plans));
        UserError e = assertThrows(UserError.class, () -> DeviceServerMain.socketsFor(List.of(a, b, a), plans));
        assertTrue(e.getMessage().contains("3 times for 2 PCI devices"), e.getMessage());
    }

    @Test
    void userMistakesAreOneLineAndAStatus() {
        assertError("no PCI -device to serve", "--vfio-user-socket", "/tmp/nothing.sock");
        assertError("drop -accel", "--vfio-user-socket", "/tmp/x.sock", "-accel", "kvm", "-device", "virtio-rng-pci");
        assertError("unknown device", "--vfio-user-socket", "/tmp/x.sock", "-device", "e1000");
    }

    private static void assertError(String expected, String... args) {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status = Main.run(args, new ByteArrayOutputStream(), new PrintStream(err, true, StandardCharsets.UTF_8));
        String text = err.toString(StandardCharsets.UTF_8);
        assertEquals(ExitStatus.USER_ERROR, status, text);
        assertTrue(text.startsWith("jvmm: ") && text.contains(expected), text);
    }
}
