package io.jvmm.tests.qmp;

import static io.jvmm.tests.qmp.Qmp.args;
import static io.jvmm.tests.qmp.Qmp.error;
import static io.jvmm.tests.qmp.Qmp.ok;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jvmm.chardev.Await;
import io.jvmm.monitor.qmp.QmpClient;
import io.jvmm.monitor.qmp.QmpEndpoint;
import io.jvmm.testkit.TestMachine;
import io.jvmm.testkit.driver.Guest;
import io.jvmm.testkit.driver.Poll;
import io.jvmm.testkit.driver.virtio.Chain;
import io.jvmm.testkit.driver.virtio.QueueSetup;
import io.jvmm.testkit.driver.virtio.SplitQueue;
import io.jvmm.testkit.driver.virtio.VirtioFeatureBits;
import io.jvmm.testkit.driver.virtio.VirtioPciDriver;
import io.jvmm.virtio.vhost.backend.BackendFaults;
import io.jvmm.virtio.vhost.backend.FillingDevice;
import io.jvmm.virtio.vhost.backend.VhostUserBackend;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code qom-set ... x-sync-vring} flips rule 1 on a running vhost-user-fs-pci and really changes
 * what the device does. The back-end (jvmm's Java vhost-user library, in this process) takes
 * {@value #SLOW_ENABLE_MS} ms over SET_VRING_ENABLE and drops kicks on a disabled ring (no rule 3).
 * The guest kicks the moment DRIVER_OK completes: with x-sync-vring on, DRIVER_OK completes only
 * once the ring is enabled and the request is served; switched off over QMP, the historic
 * fire-and-forget race comes back and the first request is dropped; switched on again, it is gone.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class QmpSyncVringTest {
    private static final long SLOW_ENABLE_MS = 1000;
    /** A request still unserved this long after the kick was dropped: the enable was applied long before. */
    private static final Duration DROPPED_AFTER = Duration.ofMillis(SLOW_ENABLE_MS + 1000);
    private static final long FEATURES = VirtioFeatureBits.RING_EVENT_IDX | VirtioFeatureBits.RING_INDIRECT_DESC;

    @TempDir
    Path dir;

    @Test
    void flippingTheSwitchAtRunTimeBringsTheRaceBackAndTakesItAway() {
        Path vhostSocket = dir.resolve("vhost.sock");
        Path qmpSocket = dir.resolve("qmp.sock");
        BackendFaults slowEnableNoRule3 = BackendFaults.NONE.withEnableDelay(Duration.ofMillis(SLOW_ENABLE_MS)).withDropKicksWhileDisabled(true);
        try (VhostUserBackend backend = VhostUserBackend.startServer(vhostSocket, "fill", new FillingDevice(2, new byte[8]), slowEnableNoRule3);
             TestMachine machine = TestMachine.builder()
                     .option("-chardev", "socket,id=c0,path=" + vhostSocket)
                     .device("vhost-user-fs-pci,chardev=c0,tag=qmp,id=fs0")
                     .option("-qmp", "unix:" + qmpSocket + ",server=on,wait=off")
                     .build();
             QmpClient qmp = QmpClient.negotiated(new QmpEndpoint.Unix(qmpSocket))) {
            VirtioPciDriver driver = VirtioPciDriver.probeFirst(Guest.of(machine), 26);
            driver.setTimeout(Duration.ofSeconds(20));
            assertTrue(ok(qmp.execute("qom-get", args("path", "fs0", "property", "x-sync-vring"))).asBoolean(), "on by default");

            assertEquals("served", kickAtDriverOk(driver, "served", Await.HANG_GUARD), "rule 1 on: the kick finds the ring enabled");
            assertEquals(0, backend.kicksDropped());

            ok(qmp.execute("qom-set", args("path", "fs0", "property", "x-sync-vring", "value", false)));
            assertFalse(ok(qmp.execute("qom-get", args("path", "fs0", "property", "x-sync-vring"))).asBoolean());
            assertEquals("dropped", kickAtDriverOk(driver, "served", DROPPED_AFTER),
                    "rule 1 switched off at run time: DRIVER_OK returns before the enable, the back-end drops the kick");
            assertTrue(backend.kicksDropped() > 0);

            ok(qmp.execute("qom-set", args("path", "/machine/peripheral/fs0", "property", "x-sync-vring", "value", true)));
            long dropped = backend.kicksDropped();
            assertEquals("served", kickAtDriverOk(driver, "served", Await.HANG_GUARD), "switched back on: the race is gone");
            assertEquals(dropped, backend.kicksDropped());

            error(qmp.execute("qom-set", args("path", "fs0", "property", "x-sync-vring", "value", "off")), "GenericError",
                    "Invalid parameter type for 'value', expected: boolean");
            error(qmp.execute("qom-set", args("path", "fs0", "property", "tag", "value", "other")), "GenericError",
                    "Attempt to set property 'tag' on device 'fs0' (type 'vhost-user-fs-pci') after it was realized");
            String qtree = ok(qmp.execute("human-monitor-command", args("command-line", "info qtree"))).asText();
            assertTrue(qtree.contains("x-sync-vring = true"), qtree);
        }
    }

    /**
     * Resets and initializes the device (queue 0 only), offers one request and kicks at once;
     * "served" if it completes within {@code wait}, else "dropped" (then a second kick serves it).
     */
    private static String kickAtDriverOk(VirtioPciDriver driver, String token, Duration wait) {
        SplitQueue q = driver.initialize(FEATURES, List.of(QueueSetup.size(16))).get(0);
        long buffer = driver.guest().pages().allocate(32);
        try {
            q.add(Chain.create().writable(buffer, 32), token);
            q.notifyDevice();
            if (Poll.await(() -> q.usedPending() > 0, wait)) {
                q.takeUsed();
                return "served";
            }
            q.notifyDevice();   // the request is still in the ring: a second notification finds it
            Poll.until(() -> q.usedPending() > 0, Await.HANG_GUARD, () -> "the request after a second kick");
            q.takeUsed();
            return "dropped";
        } finally {
            driver.guest().pages().free(buffer);
        }
    }
}
