package io.jvmm.tests.vhost;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jvmm.chardev.Await;
import io.jvmm.testkit.driver.Poll;
import io.jvmm.testkit.driver.virtio.Chain;
import io.jvmm.testkit.driver.virtio.QueueSetup;
import io.jvmm.testkit.driver.virtio.SplitQueue;
import io.jvmm.testkit.driver.virtio.UsedBuffer;
import io.jvmm.testkit.driver.virtio.VirtioFeatureBits;
import io.jvmm.virtio.vhost.ProtocolFeatures;
import io.jvmm.virtio.vhost.backend.BackendFaults;
import io.jvmm.virtio.vhost.frontend.VhostUserDeviceModel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Rules 1 and 3: the guest kicks the moment DRIVER_OK (or a late queue_enable) completes, while
 * the back-end is slow to apply SET_VRING_ENABLE. With x-sync-vring on, the write completes only
 * once the ring is enabled, so even a back-end that drops kicks on disabled rings (rule 3 off)
 * serves every request. With the historic fire-and-forget messages, such a back-end drops the
 * first request; one that follows rule 3 does not.
 */
@Timeout(value = 240, unit = TimeUnit.SECONDS)
class EnableRaceTest {
    private static final Logger log = LoggerFactory.getLogger(EnableRaceTest.class);
    private static final int ROUNDS = Integer.getInteger("jvmm.vhost.enableRounds", 10_000);
    private static final long FEATURES = VirtioFeatureBits.RING_EVENT_IDX | VirtioFeatureBits.RING_INDIRECT_DESC;
    /** A request is served in microseconds; one that is never served fails the test at this hang guard. */
    private static final Duration SERVED_WITHIN = Await.HANG_GUARD;
    /**
     * How long the slow back-end of the fire-and-forget experiments takes over SET_VRING_ENABLE.
     * The guest's kick, sent the moment DRIVER_OK returns, must reach the back-end before the
     * enable is applied for the historic race to happen, so this dwarfs any scheduling delay of a
     * loaded machine (at 100 ms a starved back-end thread could see the kick after the enable).
     */
    private static final Duration SLOW_ENABLE = Duration.ofSeconds(1);
    /** How long a request may stay unserved before the experiment calls it dropped: the enable is applied by then. */
    private static final Duration DROPPED_AFTER = SLOW_ENABLE.plusSeconds(1);

    @TempDir
    Path dir;

    /** A back-end without rule 3 that takes its time over SET_VRING_ENABLE. */
    private static BackendFaults slowEnable(Duration delay, boolean rule3) {
        return BackendFaults.NONE.withEnableDelay(delay).withDropKicksWhileDisabled(!rule3);
    }

    @Test
    void withSyncVringEveryKickRightAfterDriverOkIsServed() {
        VhostTestBed.Options o = VhostTestBed.Options.defaults().faults(slowEnable(Duration.ofNanos(200_000), false));
        try (VhostTestBed bed = VhostTestBed.create(dir, o)) {
            long start = System.nanoTime();
            for (int round = 0; round < ROUNDS; round++) {
                SplitQueue q = bed.driver.initialize(FEATURES, List.of(QueueSetup.size(16))).get(0);   // reset + init + DRIVER_OK
                long buffer = bed.guest.pages().allocate(32);
                q.add(Chain.create().writable(buffer, 32), round);
                q.notifyDevice();   // at once, unconditionally
                int r = round;
                List<UsedBuffer> used = awaitUsed(q, SERVED_WITHIN, () -> "round " + r + ": request after DRIVER_OK not served\n"
                        + bed.backendOutput());
                assertEquals(round, used.get(0).token());
                bed.guest.pages().free(buffer);
            }
            log.info("x-sync-vring=on: {} rounds of reset, init, kick at DRIVER_OK in {} ms, none dropped", ROUNDS,
                    TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start));
            assertFalse(bed.driver.needsReset());
        }
    }

    @Test
    void withoutReplyAckTheGetFeaturesRoundTripHoldsDriverOk() {
        BackendFaults oldBackend = slowEnable(Duration.ofMillis(5), false)
                .withHiddenProtocolFeatures(ProtocolFeatures.bit(ProtocolFeatures.REPLY_ACK));
        try (VhostTestBed bed = VhostTestBed.create(dir, VhostTestBed.Options.defaults().faults(oldBackend))) {
            assertFalse(bed.vhost.frontend().hasProtocolFeature(ProtocolFeatures.REPLY_ACK));
            for (int round = 0; round < 200; round++) {
                SplitQueue q = bed.driver.initialize(FEATURES, List.of(QueueSetup.size(16))).get(0);
                long buffer = bed.guest.pages().allocate(32);
                q.add(Chain.create().writable(buffer, 32), round);
                q.notifyDevice();
                int r = round;
                assertEquals(round, awaitUsed(q, SERVED_WITHIN, () -> "round " + r + " not served").get(0).token());
                bed.guest.pages().free(buffer);
            }
        }
    }

    @Test
    void withSyncVringAKickRightAfterALateQueueEnableIsServed() {
        VhostUserDeviceModel twoQueues = new VhostUserDeviceModel(4, "vhost-user-rng", 0xff0000, 2, 256, 0, null, 0);
        VhostTestBed.Options o = VhostTestBed.Options.defaults().model(twoQueues).faults(slowEnable(Duration.ofMillis(20), false));
        try (VhostTestBed bed = VhostTestBed.create(dir, o.inProcess())) {
            for (int round = 0; round < 20; round++) {
                bed.driver.initialize(FEATURES, List.of(QueueSetup.size(16)));   // queue 1 left disabled at DRIVER_OK
                LateQueue late = LateQueue.enable(bed.driver, 1, 16, bed.driver.queueVector(1));
                long buffer = bed.guest.pages().allocate(32);
                late.offerAndKick(buffer, 32);
                int r = round;
                Poll.until(() -> late.usedIndex() == 1, SERVED_WITHIN, () -> "round " + r + ": request after a late queue_enable not served");
            }
            assertEquals(0, bed.inProcessBackend.kicksDropped(), "no kick ever reached a disabled ring");
        }
    }

    @Test
    void fireAndForgetEnableDropsTheFirstRequestOfABackendWithoutRule3() {
        VhostTestBed.Options o = VhostTestBed.Options.defaults().syncVring(false).faults(slowEnable(SLOW_ENABLE, false));
        try (VhostTestBed bed = VhostTestBed.create(dir, o)) {
            for (int round = 0; round < 3; round++) {
                SplitQueue q = bed.driver.initialize(FEATURES, List.of(QueueSetup.size(16))).get(0);
                long buffer = bed.guest.pages().allocate(32);
                q.add(Chain.create().writable(buffer, 32), "first");
                q.notifyDevice();
                assertFalse(Poll.await(() -> q.usedPending() > 0, DROPPED_AFTER),
                        "round " + round + ": the back-end saw the kick on a disabled ring and dropped it; nothing announces the request again");
                q.notifyDevice();   // a second notification finds the request still waiting in the ring
                assertEquals("first", awaitUsed(q, SERVED_WITHIN, () -> "the request after a second kick").get(0).token());
            }
        }
    }

    @Test
    void fireAndForgetEnableLosesNothingWhenTheBackendFollowsRule3() {
        VhostTestBed.Options o = VhostTestBed.Options.defaults().syncVring(false).faults(slowEnable(SLOW_ENABLE, true));
        try (VhostTestBed bed = VhostTestBed.create(dir, o.inProcess())) {
            for (int round = 0; round < 3; round++) {
                long remembered = bed.inProcessBackend.kicksRemembered();
                SplitQueue q = bed.driver.initialize(FEATURES, List.of(QueueSetup.size(16))).get(0);
                long buffer = bed.guest.pages().allocate(32);
                q.add(Chain.create().writable(buffer, 32), "first");
                q.notifyDevice();
                assertEquals("first", awaitUsed(q, SERVED_WITHIN, () -> "the request (rule 3 should serve it at enable)").get(0).token());
                assertTrue(bed.inProcessBackend.kicksRemembered() > remembered, "the kick did arrive while the ring was disabled");
            }
            assertEquals(0, bed.inProcessBackend.kicksDropped());
        }
    }

    private static List<UsedBuffer> awaitUsed(SplitQueue q, Duration timeout, java.util.function.Supplier<String> what) {
        Poll.until(() -> q.usedPending() > 0, timeout, what);
        List<UsedBuffer> used = q.takeUsed();
        assertEquals(1, used.size(), () -> "one request completed: " + used);
        return used;
    }
}
