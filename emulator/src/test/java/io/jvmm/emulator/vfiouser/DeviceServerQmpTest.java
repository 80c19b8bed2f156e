package io.jvmm.emulator.vfiouser;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.jvmm.chardev.Await;
import io.jvmm.emulator.Main;
import io.jvmm.emulator.machine.ExitStatus;
import io.jvmm.monitor.qmp.QmpClient;
import io.jvmm.monitor.qmp.QmpEndpoint;
import io.jvmm.monitor.qmp.QmpJson;
import io.jvmm.pci.ConfigRegisters;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code jvmm --vfio-user-socket PATH -qmp ...}: the device server monitored over QMP. device_add
 * serves a new device on {@code PATH-<id>} (a vfio-user client finds it there), device_del stops
 * serving it (its client is disconnected, DEVICE_DELETED), quit ends the server; what belongs to
 * the VMM using the devices (stop, cont, system_reset) is refused with the reason.
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class DeviceServerQmpTest {
    @TempDir
    Path dir;

    /**
     * Runs jvmm with {@code args} and {@code -qmp} on {@code qmpSocket} in a thread (its status
     * into {@code status}, its messages into {@code err}), once it serves QMP.
     */
    private static Thread startServing(Path qmpSocket, ByteArrayOutputStream err, AtomicInteger status, String... args) {
        String[] all = java.util.Arrays.copyOf(args, args.length + 2);
        all[args.length] = "-qmp";
        all[args.length + 1] = "unix:" + qmpSocket + ",server=on,wait=off";
        Thread jvmm = new Thread(() -> status.set(Main.run(all, new ByteArrayOutputStream(),
                new PrintStream(err, true, StandardCharsets.UTF_8))), "jvmm-main");
        jvmm.start();
        Await.until(() -> Files.exists(qmpSocket) || !jvmm.isAlive(), "jvmm to serve QMP");
        assertTrue(jvmm.isAlive(), () -> "jvmm ended; it said: " + err);
        return jvmm;
    }

    @Test
    void devicesComeAndGoOnTheirOwnSocketsAndQuitEndsTheServer() throws Exception {
        Path socket = dir.resolve("dev.sock");
        Path qmpSocket = dir.resolve("qmp.sock");
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        AtomicInteger status = new AtomicInteger(-1);
        Thread jvmm = startServing(qmpSocket, err, status, "--vfio-user-socket", socket.toString(), "-device", "virtio-rng-pci,id=rng0");
        try {
            try (QmpClient qmp = QmpClient.negotiated(new QmpEndpoint.Unix(qmpSocket))) {
                assertEquals("running", qmp.execute("query-status").path("return").path("status").asText());
                JsonNode devices = qmp.execute("query-pci").path("return").get(0).path("devices");
                assertEquals(1, devices.size());
                assertEquals("rng0", devices.get(0).path("qdev_id").asText());
                for (String refused : new String[] {"stop", "cont", "system_reset"}) {
                    JsonNode r = qmp.execute(refused);
                    assertEquals("GenericError", r.path("error").path("class").asText(), r.toString());
                    assertTrue(r.path("error").path("desc").asText().contains("runs no vCPUs"), r.toString());
                }

                assertTrue(qmp.execute("device_add", QmpJson.arguments("driver", "virtio-rng-pci", "id", "hot0")).has("return"));
                Path hot = dir.resolve("dev.sock-hot0");
                assertTrue(Files.exists(hot), "served on <first socket>-<id>");
                RawClient client = RawClient.negotiated(hot);
                assertEquals(0x1044, client.read(PciRegions.CONFIG, ConfigRegisters.DEVICE_ID, 2), "a client finds virtio-rng there");
                assertEquals(2, qmp.execute("query-pci").path("return").get(0).path("devices").size());
                assertTrue(qmp.execute("qom-get", QmpJson.arguments("path", "hot0", "property", "hotplugged")).path("return").asBoolean());

                assertTrue(qmp.execute("device_del", QmpJson.arguments("id", "hot0")).has("return"));
                JsonNode deleted = qmp.awaitEvent("DEVICE_DELETED");
                assertEquals("{\"device\":\"hot0\",\"path\":\"/machine/peripheral/hot0\"}", deleted.path("data").toString());
                assertTrue(client.serverClosed(), "its client is disconnected");
                client.close();
                assertFalse(Files.exists(hot), "its socket is gone");
                assertEquals("DeviceNotFound", qmp.execute("device_del", QmpJson.arguments("id", "hot0")).path("error").path("class").asText());

                assertTrue(qmp.execute("quit").has("return"));
                assertEquals("host-qmp-quit", qmp.awaitEvent("SHUTDOWN").path("data").path("reason").asText());
                assertTrue(qmp.awaitClosed());
            }
            jvmm.join(Await.HANG_GUARD.toMillis());
            assertFalse(jvmm.isAlive(), "quit ends jvmm");
            assertEquals(ExitStatus.OK, status.get(), err.toString());
            assertFalse(Files.exists(socket), "the device's socket is removed");
            assertFalse(Files.exists(qmpSocket), "and the monitor's");
        } finally {
            jvmm.interrupt();
            jvmm.join(Await.HANG_GUARD.toMillis());
        }
    }

    /**
     * The exports of {@code -nbd-server}/{@code -export} are the ones QMP sees and changes; a
     * server QMP started is stopped with jvmm.
     */
    @Test
    void theCommandLinesNbdExportsAreTheOnesQmpDrives() throws Exception {
        Path image = dir.resolve("disk.img");
        Files.write(image, new byte[1 << 20]);
        Path nbd = dir.resolve("nbd.sock");
        Path nbd2 = dir.resolve("nbd2.sock");
        Path qmpSocket = dir.resolve("qmp.sock");
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        AtomicInteger status = new AtomicInteger(-1);
        Thread jvmm = startServing(qmpSocket, err, status, "--vfio-user-socket", dir.resolve("dev.sock").toString(),
                "-device", "virtio-rng-pci,id=rng0", "-blockdev", "driver=file,node-name=n0,filename=" + image,
                "-nbd-server", "addr.type=unix,addr.path=" + nbd, "-export", "type=nbd,id=x0,node-name=n0");
        try {
            try (QmpClient qmp = QmpClient.negotiated(new QmpEndpoint.Unix(qmpSocket))) {
                assertEquals("[{\"type\":\"nbd\",\"id\":\"x0\",\"node-name\":\"n0\",\"shutting-down\":false}]",
                        qmp.execute("query-block-exports").path("return").toString());
                assertEquals("NBD server already running", qmp.execute("nbd-server-start", QmpJson.arguments("addr",
                        QmpJson.MAPPER.readTree("{\"type\":\"unix\",\"data\":{\"path\":\"" + nbd2 + "\"}}")))
                        .path("error").path("desc").asText());
                assertTrue(qmp.execute("nbd-server-stop").has("return"));
                assertEquals("x0", qmp.awaitEvent("BLOCK_EXPORT_DELETED").path("data").path("id").asText());
                assertFalse(Files.exists(nbd), "-nbd-server's socket is gone");
                assertTrue(qmp.execute("nbd-server-start", QmpJson.arguments("addr",
                        QmpJson.MAPPER.readTree("{\"type\":\"unix\",\"data\":{\"path\":\"" + nbd2 + "\"}}"))).has("return"));
                assertTrue(qmp.execute("block-export-add", QmpJson.arguments("type", "nbd", "id", "x1", "node-name", "n0")).has("return"));
                assertTrue(Files.exists(nbd2));
                assertTrue(qmp.execute("quit").has("return"));
                assertTrue(qmp.awaitClosed());
            }
            jvmm.join(Await.HANG_GUARD.toMillis());
            assertFalse(jvmm.isAlive(), "quit ends jvmm");
            assertEquals(ExitStatus.OK, status.get(), err.toString());
            assertFalse(Files.exists(nbd2), "the server QMP started stops with jvmm");
        } finally {
            jvmm.interrupt();
            jvmm.join(Await.HANG_GUARD.toMillis());
        }
    }

    @Test
    void aQmpOptionJvmmCannotServeIsAUserError() {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status = Main.run(new String[] {"--vfio-user-socket", dir.resolve("x.sock").toString(), "-device", "virtio-rng-pci",
                "-qmp", "unix:" + dir.resolve("q.sock") + ",server=on"}, new ByteArrayOutputStream(),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        assertEquals(ExitStatus.USER_ERROR, status);
        assertEquals("jvmm: -qmp unix:" + dir.resolve("q.sock") + ",server=on: jvmm does not wait for a QMP client before starting; "
                + "add wait=off\n", err.toString(StandardCharsets.UTF_8));
        assertFalse(Files.exists(dir.resolve("x.sock")), "nothing was served");
    }
}
