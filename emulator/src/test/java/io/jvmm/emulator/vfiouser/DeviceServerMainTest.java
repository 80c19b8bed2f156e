package io.jvmm.emulator.vfiouser;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jvmm.chardev.Await;
import io.jvmm.emulator.Main;
import io.jvmm.platform.options.UserError;
import io.jvmm.emulator.machine.ExitStatus;
import io.jvmm.pci.ConfigRegisters;
import io.jvmm.virtio.vhost.backend.BackendFaults;
import io.jvmm.virtio.vhost.backend.FillingDevice;
import io.jvmm.virtio.vhost.backend.VhostUserBackend;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The command line of the device server: which socket serves which device, and its user errors. */
class DeviceServerMainTest {

    @Test
    void oneSocketPerDeviceOrOneSocketWithSuffixes() {
        List<String> ids = List.of("rng0", "rng1");
        Path a = Path.of("/tmp/x/a.sock");
        Path b = Path.of("/tmp/x/b.sock");
        assertEquals(java.util.Map.of("rng0", a, "rng1", b), DeviceServerMain.socketsFor(List.of(a, b), ids));
        assertEquals(java.util.Map.of("rng0", a, "rng1", Path.of("/tmp/x/a.sock-rng1")), DeviceServerMain.socketsFor(List.of(a), ids));
        UserError e = assertThrows(UserError.class, () -> DeviceServerMain.socketsFor(List.of(a, b, a), ids));
        assertTrue(e.getMessage().contains("3 times for 2 devices"), e.getMessage());
    }

    @Test
    void userMistakesAreOneLineAndAStatus(@TempDir Path dir) {
        String socket = dir.resolve("x.sock").toString();   // none is created, but never a path other runs share
        assertError("no PCI -device to serve", "--vfio-user-socket", socket);
        assertError("drop -accel", "--vfio-user-socket", socket, "-accel", "kvm", "-device", "virtio-rng-pci");
        assertError("unknown device", "--vfio-user-socket", socket, "-device", "e1000");
    }

    @Test
    void aVhostUserFsDeviceWhoseBackEndIsNotThereIsAUserError(@TempDir Path dir) {
        assertError("is virtiofsd running on that socket?", "--vfio-user-socket", dir.resolve("fs.sock").toString(),
                "-chardev", "socket,id=c0,path=" + dir.resolve("absent.sock") + ",timeout-ms=200",
                "-device", "vhost-user-fs-pci,chardev=c0,tag=myfs");
        assertError("chardev 'c9' is not defined", "--vfio-user-socket", dir.resolve("fs.sock").toString(),
                "-device", "vhost-user-fs-pci,chardev=c9,tag=myfs");
    }

    /**
     * The whole command line: -chardev plus -device vhost-user-fs-pci connects to the back-end
     * (here the Java one), then serves the device: a client sees virtio-fs with its tag.
     */
    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void servesVhostUserFsGivenItsChardev(@TempDir Path dir) throws Exception {
        Path backendSocket = dir.resolve("vfsd.sock");
        Path socket = dir.resolve("fs.sock");
        try (VhostUserBackend backend = VhostUserBackend.startServer(backendSocket, "fs", new FillingDevice(2, new byte[0]),
                BackendFaults.NONE)) {
            ByteArrayOutputStream err = new ByteArrayOutputStream();
            AtomicInteger status = new AtomicInteger(-1);
            Thread jvmm = new Thread(() -> status.set(Main.run(new String[] {"--vfio-user-socket", socket.toString(),
                    "-chardev", "socket,id=c0,path=" + backendSocket, "-device", "vhost-user-fs-pci,chardev=c0,tag=myfs,id=fs0"},
                    new ByteArrayOutputStream(), new PrintStream(err, true, StandardCharsets.UTF_8))), "jvmm-main");
            jvmm.start();
            try {
                // The line jvmm prints once the device is served (after its socket exists): waiting
                // for the socket alone would leave the line a race with the checks below.
                Await.until(() -> err.toString(StandardCharsets.UTF_8).contains("serving vhost-user-fs-pci fs0") || !jvmm.isAlive(),
                        "jvmm to serve the device");
                assertTrue(jvmm.isAlive(), () -> "jvmm ended; it said: " + err);
                try (RawClient c = RawClient.negotiated(socket)) {
                    assertEquals(0x1040 + 26, c.read(PciRegions.CONFIG, ConfigRegisters.DEVICE_ID, 2), "a virtio file-system device");
                    c.write(PciRegions.CONFIG, ConfigRegisters.COMMAND, 2, ConfigRegisters.COMMAND_MEMORY);
                    byte[] tag = new byte[4];
                    for (int i = 0; i < 4; i++) {
                        tag[i] = (byte) c.read(4, 0x2000 + i, 1);
                    }
                    assertEquals("myfs", new String(tag, StandardCharsets.US_ASCII), "the tag in the device configuration");
                    assertEquals(1, c.read(4, 0x2000 + 36, 4), "num_request_queues");
                }
                assertTrue(backend.isOwned(), "the device took ownership of the back-end when it was built");
            } finally {
                jvmm.interrupt();
                jvmm.join(Await.HANG_GUARD.toMillis());
            }
            assertFalse(jvmm.isAlive(), "jvmm stopped when told to");
            assertEquals(ExitStatus.OK, status.get(), err.toString());
        }
    }

    private static void assertError(String expected, String... args) {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status = Main.run(args, new ByteArrayOutputStream(), new PrintStream(err, true, StandardCharsets.UTF_8));
        String text = err.toString(StandardCharsets.UTF_8);
        assertEquals(ExitStatus.USER_ERROR, status, text);
        assertTrue(text.startsWith("jvmm: ") && text.contains(expected), text);
    }
}
