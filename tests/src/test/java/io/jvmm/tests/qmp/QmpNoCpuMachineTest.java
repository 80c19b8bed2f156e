package io.jvmm.tests.qmp;

import static io.jvmm.tests.qmp.Qmp.args;
import static io.jvmm.tests.qmp.Qmp.error;
import static io.jvmm.tests.qmp.Qmp.ok;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.jvmm.chardev.Await;
import io.jvmm.monitor.RunState;
import io.jvmm.monitor.qmp.QmpClient;
import io.jvmm.monitor.qmp.QmpEndpoint;
import io.jvmm.testkit.TestMachine;
import io.jvmm.testkit.driver.Guest;
import io.jvmm.testkit.driver.pci.PciFunction;
import io.jvmm.testkit.driver.rng.VirtioRngDriver;
import io.jvmm.testkit.driver.virtio.VirtioPciDriver;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every QMP command on the no-CPU machine (virtio-blk on a raw image, virtio-rng, isa-debug-exit,
 * an unused socket chardev), checked against what the guest driver sees: the queries describe what
 * it enumerates, stop pauses its CPU, system_reset resets its functions, device_add gives it a
 * function to enumerate and drive, device_del takes it away (DEVICE_DELETED), quit ends the machine.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class QmpNoCpuMachineTest {
    private static final int VIRTIO_RNG = 4;

    @TempDir
    Path dir;

    private Path disk;
    private Path socket;
    private TestMachine machine;
    private QmpClient qmp;

    @BeforeEach
    void start() throws Exception {
        disk = dir.resolve("disk.img");
        Files.write(disk, new byte[1 << 20]);
        socket = dir.resolve("qmp.sock");
        machine = TestMachine.builder()
                .option("-drive", "file=" + disk + ",format=raw,if=none,id=d0")
                .option("-chardev", "socket,id=c0,path=" + dir.resolve("c0.sock") + ",server=on,wait=off")
                .device("virtio-blk-pci,drive=d0,id=blk0,serial=jvmm-serial")
                .device("virtio-rng-pci,id=rng0")
                .device("isa-debug-exit,iobase=0x501,iosize=2,id=exit0")
                .option("-qmp", "unix:" + socket + ",server=on,wait=off")
                .build();
        qmp = QmpClient.negotiated(new QmpEndpoint.Unix(socket));
    }

    @AfterEach
    void stop() {
        if (qmp != null) {
            qmp.close();
        }
        if (machine != null) {
            machine.close();
        }
    }

    private VirtioRngDriver rng(Guest guest, String why) {
        PciFunction fn = guest.enumerate().stream().filter(f -> f.deviceId() == VirtioPciDriver.MODERN_DEVICE_ID_BASE + VIRTIO_RNG)
                .findFirst().orElseThrow(() -> new AssertionError(why + ": no virtio-rng on the bus"));
        return new VirtioRngDriver(VirtioPciDriver.probe(guest, fn)).initialize();
    }

    private static JsonNode device(JsonNode queryPci, String qdevId) {
        for (JsonNode d : queryPci.get(0).path("devices")) {
            if (d.path("qdev_id").asText().equals(qdevId)) {
                return d;
            }
        }
        return null;
    }

    @Test
    void queriesDescribeWhatTheGuestFinds() {
        Guest guest = Guest.of(machine);
        VirtioPciDriver blk = VirtioPciDriver.probeFirst(guest, 2);
        JsonNode pci = ok(qmp.execute("query-pci"));
        assertEquals(0, pci.get(0).path("bus").asInt());
        JsonNode devices = pci.get(0).path("devices");
        assertEquals(List.of("", "blk0", "rng0"), qdevIds(devices), "the host bridge first, then the functions in slot order");
        assertEquals("Host bridge", devices.get(0).path("class_info").path("desc").asText());
        JsonNode b = device(pci, "blk0");
        assertEquals(blk.function().address().slot(), b.path("slot").asInt());
        assertEquals(0x1af4, b.path("id").path("vendor").asInt());
        assertEquals(0x1042, b.path("id").path("device").asInt());
        assertEquals(1, b.path("irq_pin").asInt());
        for (JsonNode region : b.path("regions")) {
            var bar = blk.function().bar(region.path("bar").asInt());
            assertEquals(bar.address(), region.path("address").asLong(), "BAR" + bar.index() + " where the guest placed it");
            assertEquals(bar.size(), region.path("size").asLong());
            assertEquals("memory", region.path("type").asText());
            assertEquals(bar.prefetchable(), region.path("prefetch").asBoolean());
        }
        assertEquals(-1, device(pci, "rng0").path("regions").get(0).path("address").asLong(), "not placed by the guest yet");

        JsonNode block = ok(qmp.execute("query-block"));
        assertEquals(1, block.size());
        assertEquals("d0", block.get(0).path("device").asText());
        assertEquals("/machine/peripheral/blk0/virtio-backend", block.get(0).path("qdev").asText());
        assertEquals(disk.toString(), block.get(0).path("inserted").path("file").asText());
        assertFalse(block.get(0).path("inserted").path("ro").asBoolean());
        assertEquals(1 << 20, block.get(0).path("inserted").path("image").path("virtual-size").asLong());

        JsonNode chardevs = ok(qmp.execute("query-chardev"));
        assertEquals("c0", chardevs.get(0).path("label").asText());
        assertEquals("disconnected:unix:" + dir.resolve("c0.sock") + ",server=on", chardevs.get(0).path("filename").asText());
        assertFalse(chardevs.get(0).path("frontend-open").asBoolean());
        assertEquals("unix:" + socket + ",server=on", chardevs.get(1).path("filename").asText());

        assertEquals(0, ok(qmp.execute("query-version")).path("qemu").path("major").asInt());
        List<String> commands = new ArrayList<>();
        ok(qmp.execute("query-commands")).forEach(c -> commands.add(c.path("name").asText()));
        assertTrue(commands.containsAll(List.of("query-pci", "query-block", "query-chardev", "qom-set", "device_add", "device_del",
                "human-monitor-command", "system_reset")), commands.toString());
    }

    private static List<String> qdevIds(JsonNode devices) {
        List<String> ids = new ArrayList<>();
        devices.forEach(d -> ids.add(d.path("qdev_id").asText()));
        return ids;
    }

    @Test
    void stopPausesTheGuestsCpuAndContResumesIt() {
        VirtioRngDriver rng = rng(Guest.of(machine), "before stop");
        assertEquals(16, rng.read(16).length);
        ok(qmp.execute("stop"));
        assertEquals("STOP", qmp.events().get(0).path("event").asText());
        assertEquals("paused", ok(qmp.execute("query-status")).path("status").asText());
        IllegalStateException refused = assertThrows(IllegalStateException.class, () -> machine.readMmio(0xE000_0000L, 4));
        assertTrue(refused.getMessage().contains("paused"), refused.getMessage());
        assertEquals("VM status: paused\r\n", ok(qmp.execute("human-monitor-command", args("command-line", "info status"))).asText());
        ok(qmp.execute("stop"));
        assertEquals(1, qmp.events().size(), "stopping a paused machine reports nothing");
        ok(qmp.execute("cont"));
        assertEquals("RESUME", qmp.awaitEvent("RESUME").path("event").asText());
        assertEquals("running", ok(qmp.execute("query-status")).path("status").asText());
        assertEquals(16, rng.read(16).length, "the device goes on where it was");
    }

    @Test
    void systemResetResetsEveryFunction() {
        Guest guest = Guest.of(machine);
        VirtioRngDriver rng = rng(guest, "before the reset");
        rng.read(8);
        assertNotEquals(0, rng.device().status());
        assertNotEquals(-1, device(ok(qmp.execute("query-pci")), "rng0").path("regions").get(0).path("address").asLong());
        ok(qmp.execute("system_reset"));
        JsonNode reset = qmp.awaitEvent("RESET");
        assertEquals("{\"guest\":false,\"reason\":\"host-qmp-system-reset\"}", reset.path("data").toString());
        assertTrue(reset.path("timestamp").path("seconds").asLong() > 0);
        assertEquals(-1, device(ok(qmp.execute("query-pci")), "rng0").path("regions").get(0).path("address").asLong(),
                "the reset unassigned the BARs, as firmware finds them at power-on");
        VirtioRngDriver again = rng(guest, "after the reset");
        assertEquals(32, again.read(32).length, "probed and initialized again, it works");
    }

    @Test
    void quitEndsTheMachine() {
        ok(qmp.execute("quit"));
        JsonNode shutdown = qmp.awaitEvent("SHUTDOWN");
        assertEquals("{\"guest\":false,\"reason\":\"host-qmp-quit\"}", shutdown.path("data").toString());
        assertTrue(qmp.awaitClosed(), "the monitor closes with the machine");
        assertEquals(RunState.SHUTDOWN, machine.runState());
        assertEquals(List.of(new TestMachine.ExitRequest(0, "quit (QMP)")), machine.exitRequests());
        assertThrows(IllegalStateException.class, () -> machine.inb(0xcfc));
        Await.until(() -> !Files.exists(socket), "the QMP socket is removed");
    }

    @Test
    void qomListsGetsAndRefusesToSetBuildTimeProperties() {
        JsonNode peripherals = ok(qmp.execute("qom-list", args("path", "/machine/peripheral")));
        assertEquals("[{\"name\":\"type\",\"type\":\"string\"},{\"name\":\"blk0\",\"type\":\"child<virtio-blk-pci>\"},"
                + "{\"name\":\"rng0\",\"type\":\"child<virtio-rng-pci>\"},{\"name\":\"exit0\",\"type\":\"child<isa-debug-exit>\"}]",
                peripherals.toString());
        JsonNode props = ok(qmp.execute("qom-list", args("path", "blk0")));
        assertTrue(props.toString().contains("{\"name\":\"drive\",\"type\":\"str\"}"), props.toString());
        assertTrue(props.toString().contains("{\"name\":\"queue-size\",\"type\":\"uint16\"}"), props.toString());
        assertEquals("d0", ok(qmp.execute("qom-get", args("path", "blk0", "property", "drive"))).asText());
        assertEquals("jvmm-serial", ok(qmp.execute("qom-get", args("path", "/machine/peripheral/blk0", "property", "serial"))).asText());
        assertEquals(256, ok(qmp.execute("qom-get", args("path", "blk0", "property", "queue-size"))).asInt(), "the default");
        assertEquals(0x501, ok(qmp.execute("qom-get", args("path", "exit0", "property", "iobase"))).asInt());
        assertEquals("virtio-blk-pci", ok(qmp.execute("qom-get", args("path", "blk0", "property", "type"))).asText());
        assertTrue(ok(qmp.execute("qom-get", args("path", "blk0", "property", "realized"))).asBoolean());
        assertFalse(ok(qmp.execute("qom-get", args("path", "blk0", "property", "hotplugged"))).asBoolean());
        error(qmp.execute("qom-set", args("path", "blk0", "property", "serial", "value", "x")), "GenericError",
                "Attempt to set property 'serial' on device 'blk0' (type 'virtio-blk-pci') after it was realized");
        error(qmp.execute("qom-set", args("path", "blk0", "property", "nope", "value", 1)), "GenericError",
                "Property 'virtio-blk-pci.nope' not found");
        error(qmp.execute("qom-get", args("path", "blk0", "property", "nope")), "GenericError", "Property 'virtio-blk-pci.nope' not found");
        error(qmp.execute("qom-get", args("path", "/machine/peripheral/nope", "property", "type")), "DeviceNotFound",
                "Device '/machine/peripheral/nope' not found");
        assertEquals("jvmm-serial", ok(qmp.execute("qom-get", args("path", "blk0", "property", "serial"))).asText(), "unchanged");
    }

    @Test
    void deviceAddGivesTheGuestAFunctionAndDeviceDelTakesItAway() {
        Guest guest = Guest.of(machine);
        int before = guest.enumerate().size();
        ok(qmp.execute("device_add", args("driver", "virtio-rng-pci", "id", "hot0", "bus", "pci.0")));
        List<PciFunction> functions = guest.enumerate();
        assertEquals(before + 1, functions.size(), "the guest enumerates one more function");
        PciFunction hot = functions.get(functions.size() - 1);
        VirtioRngDriver rng = new VirtioRngDriver(VirtioPciDriver.probe(guest, hot)).initialize();
        assertEquals(64, rng.read(64).length, "and drives it");
        JsonNode entry = device(ok(qmp.execute("query-pci")), "hot0");
        assertEquals(hot.address().slot(), entry.path("slot").asInt());
        assertTrue(ok(qmp.execute("qom-get", args("path", "hot0", "property", "hotplugged"))).asBoolean());

        error(qmp.execute("device_add", args("driver", "virtio-rng-pci", "id", "hot0")), "GenericError", "Duplicate ID 'hot0' for device");
        error(qmp.execute("device_add", args("driver", "virtio-rng-pci", "id", "hot1", "speed", 3)), "GenericError", "speed");
        error(qmp.execute("device_add", args("driver", "virtio-rng-pci", "bus", "pcie.9")), "GenericError", "Bus 'pcie.9' not found");
        error(qmp.execute("device_add", args("driver", "virtio-blk-pci", "drive", "d0")), "GenericError", "already used");
        error(qmp.execute("device_add", args("driver", "virtio-blk-pci", "drive", "d9")), "GenericError", "'d9' is not defined");
        error(qmp.execute("device_add", args("driver", "no-such-device")), "GenericError", "'no-such-device' is not a valid device model name");
        assertEquals(before + 1, guest.enumerate().size(), "refused additions added nothing");

        ok(qmp.execute("device_del", args("id", "hot0")));
        JsonNode deleted = qmp.awaitEvent("DEVICE_DELETED");
        assertEquals("{\"device\":\"hot0\",\"path\":\"/machine/peripheral/hot0\"}", deleted.path("data").toString());
        assertEquals(before, guest.enumerate().size(), "gone from the bus");
        assertEquals(null, device(ok(qmp.execute("query-pci")), "hot0"));
        error(qmp.execute("device_del", args("id", "hot0")), "DeviceNotFound", "Device 'hot0' not found");
        error(qmp.execute("device_del", args("id", "exit0")), "GenericError", "not a PCI device");

        ok(qmp.execute("device_del", args("id", "rng0")));
        assertEquals("rng0", qmp.awaitEvent("DEVICE_DELETED").path("data").path("device").asText(), "a cold-plugged one too");
        ok(qmp.execute("device_add", args("driver", "virtio-rng-pci", "id", "rng0")));
        assertEquals(64, rng(guest, "the id used again").read(64).length);
    }

    @Test
    void humanMonitorCommandsPrintQemusText() {
        String pci = ok(qmp.execute("human-monitor-command", args("command-line", "info pci"))).asText();
        assertTrue(pci.contains("  Bus  0, device   1, function 0:\r\n"), pci);
        assertTrue(pci.contains("PCI device 1af4:1042\r\n"), pci);
        assertTrue(pci.contains("      id \"blk0\"\r\n"), pci);
        String qtree = ok(qmp.execute("human-monitor-command", args("command-line", "info qtree", "cpu-index", 0))).asText();
        assertTrue(qtree.startsWith("bus: main-system-bus\r\n  type System\r\n"), qtree);
        assertTrue(qtree.contains("      dev: virtio-blk-pci, id \"blk0\"\r\n        drive = \"d0\"\r\n"), qtree);
        assertTrue(qtree.contains("        queue-size = 256 (0x100)\r\n"), qtree);
        assertTrue(qtree.contains("      dev: isa-debug-exit, id \"exit0\"\r\n        iobase = 1281 (0x501)\r\n"), qtree);
        assertEquals("VM status: running\r\n", ok(qmp.execute("human-monitor-command", args("command-line", "info status"))).asText());
        assertEquals("unknown command: 'savevm x'\r\n", ok(qmp.execute("human-monitor-command", args("command-line", "savevm x"))).asText());
    }

    @Test
    void badInputGetsAnErrorAndTheGuestsDevicesAreUntouched() {
        VirtioRngDriver rng = rng(Guest.of(machine), "before");
        byte[] before = Arrays.copyOf(rng.read(8), 8);
        assertEquals(8, before.length);
        byte[] huge = new byte[32 << 20];
        Arrays.fill(huge, (byte) '1');
        huge[0] = '[';
        huge[huge.length - 1] = ']';
        error(qmp.raw(huge), "GenericError", "over the limit");
        error(qmp.raw("{\"execute\":\"device_add\",\"arguments\":{\"driver\":7}}"), "GenericError",
                "Invalid parameter type for 'driver', expected: string");
        error(qmp.raw("{\"execute\":\"device_del\"}"), "GenericError", "Parameter 'id' is missing");
        error(qmp.raw("{\"execute\":\"stop\",\"arguments\":{\"x\":1}}"), "GenericError", "Parameter 'x' is unexpected");
        error(qmp.raw("{\"execute\":\"blockdev-snapshot\"}"), "CommandNotFound", "The command blockdev-snapshot has not been found");
        error(qmp.raw("{\"execute\":\"query-status\",,}".getBytes(StandardCharsets.US_ASCII)), "GenericError", "JSON parse error");
        assertEquals("running", ok(qmp.execute("query-status")).path("status").asText());
        assertEquals(2, guestFunctions(), "no PCI function came or went");
        assertEquals(64, rng.read(64).length, "the device works as before");
    }

    private int guestFunctions() {
        return (int) Guest.of(machine).enumerate().stream().filter(f -> f.address().slot() > 0).count();
    }

    @Test
    void severalClientsSeeTheSameEvents() {
        try (QmpClient second = QmpClient.negotiated(new QmpEndpoint.Unix(socket))) {
            ok(second.execute("device_add", args("driver", "virtio-rng-pci", "id", "hot1")));
            ok(qmp.execute("device_del", args("id", "hot1")));
            JsonNode a = qmp.awaitEvent("DEVICE_DELETED");
            JsonNode b = second.awaitEvent("DEVICE_DELETED");
            assertEquals(a, b);
            assertArrayEquals(new String[] {"hot1"}, new String[] {b.path("data").path("device").asText()});
        }
    }
}
