package io.jvmm.tests.kvm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.jvmm.chardev.Await;
import io.jvmm.emulator.machine.ExitStatus;
import io.jvmm.emulator.machine.KvmMachine;
import io.jvmm.monitor.qmp.QmpClient;
import io.jvmm.monitor.qmp.QmpJson;
import io.jvmm.monitor.qmp.QmpServer;
import io.jvmm.platform.config.MachineConfig;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * QMP on the KVM machine, with the freestanding test guest: stopped before its vCPUs start, the
 * guest runs no instruction (nothing on its console) until cont; then it runs to PASS and its exit
 * is a SHUTDOWN event. query-pci shows the BARs the VMM assigned as firmware; system_reset and
 * device_add are refused with the reason; quit ends a machine without running its guest. Skipped
 * where /dev/kvm is missing.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class KvmQmpTest {
    @TempDir
    Path dir;

    @BeforeEach
    void needsKvm() {
        KvmAvailable.assume();
    }

    private MachineConfig config() throws Exception {
        Path disk = dir.resolve("disk.img");
        Files.write(disk, new byte[16 << 20]);
        return KvmConfig.parse("256", "1", TestGuest.elf(), null, "require=blk,rng", true, List.of(), List.of(),
                List.of("file=" + disk + ",format=raw,if=none,id=d0"),
                List.of("isa-debug-exit,iobase=0x501,iosize=2", "virtio-blk-pci,drive=d0,id=blk0", "virtio-rng-pci,id=rng0"));
    }

    @Test
    void pausedBeforeTheStartTheGuestRunsOnlyAfterCont() throws Exception {
        ByteArrayOutputStream console = new ByteArrayOutputStream();
        Path socket = dir.resolve("qmp.sock");
        try (KvmMachine machine = KvmMachine.create(config(), console);
             QmpServer server = QmpServer.start("unix:" + socket + ",server=on,wait=off", machine);
             QmpClient qmp = QmpClient.negotiated(server.endpoint())) {
            assertEquals("prelaunch", qmp.execute("query-status").path("return").path("status").asText());
            assertTrue(qmp.execute("stop").has("return"));
            CompletableFuture<KvmMachine.MachineExit> run = runInBackground(machine);
            assertEquals("paused", qmp.execute("query-status").path("return").path("status").asText());
            Await.stays(() -> console.size() == 0, "the paused guest prints nothing");

            JsonNode blk = device(qmp.execute("query-pci").path("return"), "blk0");
            assertNotEquals(-1, blk.path("regions").get(0).path("address").asLong(), "BARs assigned by the VMM as firmware");
            JsonNode reset = qmp.execute("system_reset");
            assertEquals("GenericError", reset.path("error").path("class").asText());
            assertTrue(reset.path("error").path("desc").asText().contains("not supported by jvmm's KVM machine"), reset.toString());
            JsonNode add = qmp.execute("device_add", QmpJson.object().put("driver", "virtio-rng-pci"));
            assertTrue(add.path("error").path("desc").asText().contains("does not support hotplugging"), add.toString());

            assertTrue(qmp.execute("cont").has("return"));
            assertEquals("RESUME", qmp.awaitEvent("RESUME").path("event").asText());
            KvmMachine.MachineExit exit = run.get(120, TimeUnit.SECONDS);
            String out = console.toString(StandardCharsets.US_ASCII);
            assertEquals(TestGuest.PASS, exit.status(), out);
            JsonNode shutdown = qmp.awaitEvent("SHUTDOWN");
            assertEquals("{\"guest\":true,\"reason\":\"guest-shutdown\"}", shutdown.path("data").toString());
            assertEquals("shutdown", qmp.execute("query-status").path("return").path("status").asText());
        }
    }

    @Test
    void quitEndsAMachineWhoseGuestNeverRan() throws Exception {
        ByteArrayOutputStream console = new ByteArrayOutputStream();
        try (KvmMachine machine = KvmMachine.create(config(), console);
             QmpServer server = QmpServer.start("tcp:127.0.0.1:0,server=on,wait=off", machine);
             QmpClient qmp = QmpClient.negotiated(server.endpoint())) {
            assertTrue(qmp.execute("stop").has("return"));
            CompletableFuture<KvmMachine.MachineExit> run = runInBackground(machine);
            assertTrue(qmp.execute("quit").has("return"));
            assertEquals("host-qmp-quit", qmp.awaitEvent("SHUTDOWN").path("data").path("reason").asText());
            KvmMachine.MachineExit exit = run.get(60, TimeUnit.SECONDS);
            assertEquals(ExitStatus.OK, exit.status(), exit.reason());
            assertEquals(0, console.size(), "the guest never ran");
        }
    }

    private static CompletableFuture<KvmMachine.MachineExit> runInBackground(KvmMachine machine) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                return machine.run();
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
    }

    private static JsonNode device(JsonNode queryPci, String id) {
        for (JsonNode d : queryPci.get(0).path("devices")) {
            if (d.path("qdev_id").asText().equals(id)) {
                return d;
            }
        }
        throw new AssertionError("no " + id + " in " + queryPci);
    }
}
