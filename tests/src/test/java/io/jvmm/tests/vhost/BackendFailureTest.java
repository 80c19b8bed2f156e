package io.jvmm.tests.vhost;

import io.jvmm.tests.support.ProblemLog;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jvmm.testkit.driver.GuestDriverException;
import io.jvmm.testkit.driver.Poll;
import io.jvmm.testkit.driver.pci.MsixDriver;
import io.jvmm.testkit.driver.rng.VirtioRngDriver;
import io.jvmm.testkit.driver.virtio.Chain;
import io.jvmm.testkit.driver.virtio.QueueSetup;
import io.jvmm.testkit.driver.virtio.SplitQueue;
import io.jvmm.testkit.driver.virtio.VirtioFeatureBits;
import io.jvmm.virtio.vhost.VhostUserRequest;
import io.jvmm.virtio.vhost.backend.BackendFaults;
import io.jvmm.virtio.vhost.backend.ReplyFault;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * A back-end that dies or misbehaves breaks its device only: DEVICE_NEEDS_RESET with the
 * configuration interrupt, one log line naming the back-end and the message, every guest write
 * completing within the reply timeout, and the machine's other device working on.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class BackendFailureTest {
    private static final long FEATURES = VirtioFeatureBits.RING_EVENT_IDX | VirtioFeatureBits.RING_INDIRECT_DESC;
    private static final Duration REPLY_TIMEOUT = Duration.ofMillis(1000);
    /** A guest write may wait for one reply timeout; anything beyond this bound would be a hang. */
    private static final long WRITE_BOUND_MS = REPLY_TIMEOUT.toMillis() + 2000;
    private static final String PEER = "vhost-user back-end of vhost0 (chardev 'vhost0-chr'";

    @TempDir
    Path dir;

    private static long timedMs(Runnable guestWork) {
        long start = System.nanoTime();
        guestWork.run();
        return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
    }

    private static void assertOtherDeviceWorks(VhostTestBed bed) {
        VirtioRngDriver other = bed.other;
        other.initialize();
        assertEquals(64, other.read(64).length, "the machine's other device works on");
    }

    @Test
    void killedBackendBreaksTheDeviceAndNothingElse() throws Exception {
        VhostTestBed.Options o = VhostTestBed.Options.defaults().replyTimeout(REPLY_TIMEOUT);
        try (ProblemLog logs = new ProblemLog(); VhostTestBed bed = VhostTestBed.create(dir, o)) {
            SplitQueue q = bed.driver.initialize(FEATURES, List.of(QueueSetup.size(16))).get(0);
            long buffer = bed.guest.pages().allocate(64);
            q.add(Chain.create().writable(buffer, 64), "before");
            q.kick();
            assertEquals(1, q.awaitUsed(Duration.ofSeconds(10)).size());

            long configInterrupts = bed.driver.configInterrupts();
            bed.process.kill();
            q.add(Chain.create().writable(buffer, 64), "in flight when it died");
            q.kick();
            Poll.until(bed.driver::needsReset, Duration.ofSeconds(10), () -> "DEVICE_NEEDS_RESET after the back-end died");
            assertTrue(bed.driver.awaitConfigInterrupt(configInterrupts, Duration.ofSeconds(5)), "the configuration interrupt announced it");
            assertTrue(logs.anyContainsAll(PEER, "closed the connection") || logs.anyContainsAll(PEER, "connection lost"),
                    () -> "no log line names the dead back-end: " + logs.problems());
            assertEquals(0, q.usedPending(), "the request in flight is never completed by a dead back-end");

            MsixDriver msix = bed.driver.msix();
            int vector = bed.driver.queueVector(0);
            assertTrue(timedMs(() -> msix.mask(vector)) < WRITE_BOUND_MS, "mask write bounded");
            assertTrue(timedMs(() -> msix.unmask(vector)) < WRITE_BOUND_MS, "unmask write bounded");
            long t0 = System.nanoTime();
            GuestDriverException refused = assertThrows(GuestDriverException.class,
                    () -> bed.driver.initialize(FEATURES, List.of(QueueSetup.size(16))));
            assertTrue(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0) < 3 * WRITE_BOUND_MS,
                    "reset and re-initialisation complete (and fail) within bounds");
            assertTrue(refused.getMessage().contains("refused features"), () -> "a new driver's FEATURES_OK is refused: " + refused);
            assertTrue(logs.anyContainsAll("FEATURES_OK refused", "back-end is gone"), () -> logs.problems().toString());
            assertOtherDeviceWorks(bed);
        }
    }

    @ParameterizedTest(name = "{0} reply to SET_VRING_CALL")
    @EnumSource(ReplyFault.class)
    void misbehavingBackendBreaksTheDeviceWithAClearReport(ReplyFault fault) {
        // In-process back-end: what the front-end sees on the socket is the same, and six JVMs fewer.
        BackendFaults faults = BackendFaults.NONE.withReplyFault(fault, VhostUserRequest.SET_VRING_CALL, 1);
        VhostTestBed.Options o = VhostTestBed.Options.defaults().inProcess().replyTimeout(REPLY_TIMEOUT).faults(faults);
        try (ProblemLog logs = new ProblemLog(); VhostTestBed bed = VhostTestBed.create(dir, o)) {
            long configInterrupts = bed.driver.configInterrupts();
            long ms = timedMs(() -> bed.driver.initialize(FEATURES, List.of(QueueSetup.size(16))));
            assertTrue(ms < WRITE_BOUND_MS, "initialisation (DRIVER_OK waits for the spoiled reply) took " + ms + " ms");
            Poll.until(bed.driver::needsReset, Duration.ofSeconds(5), () -> "DEVICE_NEEDS_RESET after a " + fault + " reply");
            assertTrue(bed.driver.awaitConfigInterrupt(configInterrupts, Duration.ofSeconds(5)));
            // A missing reply shows when the next one arrives (it answers another request) or at the timeout.
            List<String> expected = switch (fault) {
                case SHORT -> List.of("has a 4-byte payload");
                case MALFORMED -> List.of("version 2");
                case WRONG_REQUEST -> List.of("is marked as a reply to GET_FEATURES");
                case UNEXPECTED_FD -> List.of("unexpected fd");
                case NO_REPLY -> List.of("is marked as a reply to SET_VRING_ERR", "within 1000 ms");
                case REFUSE -> List.of("back-end refused SET_VRING_CALL");
            };
            assertTrue(expected.stream().anyMatch(problem -> logs.anyContainsAll(PEER, "SET_VRING_CALL (vring 0", problem)),
                    () -> "no log line names the back-end, the message and the problem " + expected + ": " + logs.problems());
            assertOtherDeviceWorks(bed);
        }
    }

    @Test
    void backendClosingMidHandshakeOfTheRingsBreaksTheDevice() {
        // handshake 6 + SET_FEATURES, SET_MEM_TABLE, SET_VRING_NUM = 9: it dies on SET_VRING_BASE.
        VhostTestBed.Options o = VhostTestBed.Options.defaults().replyTimeout(REPLY_TIMEOUT)
                .faults(BackendFaults.NONE.withCloseAtMessage(10));
        try (ProblemLog logs = new ProblemLog(); VhostTestBed bed = VhostTestBed.create(dir, o)) {
            long ms = timedMs(() -> bed.driver.initialize(FEATURES, List.of(QueueSetup.size(16))));
            assertTrue(ms < WRITE_BOUND_MS, "initialisation took " + ms + " ms");
            Poll.until(bed.driver::needsReset, Duration.ofSeconds(5), () -> "DEVICE_NEEDS_RESET");
            assertTrue(logs.anyContainsAll(PEER, "SET_VRING_BASE (vring 0, 0) awaited its reply"),
                    () -> "the report names the first unanswered message: " + logs.problems());
            assertOtherDeviceWorks(bed);
        }
    }

    @Test
    void stalledBackendIsBoundedByTheReplyTimeout() {
        // handshake 6 + SET_FEATURES, SET_MEM_TABLE, SET_VRING_NUM/BASE/ADDR = 11: it hangs at SET_VRING_CALL.
        VhostTestBed.Options o = VhostTestBed.Options.defaults().replyTimeout(REPLY_TIMEOUT)
                .faults(BackendFaults.NONE.withStallAtMessage(12));
        try (ProblemLog logs = new ProblemLog(); VhostTestBed bed = VhostTestBed.create(dir, o)) {
            long ms = timedMs(() -> bed.driver.initialize(FEATURES, List.of(QueueSetup.size(16))));
            assertTrue(ms >= REPLY_TIMEOUT.toMillis() - 100 && ms < WRITE_BOUND_MS,
                    "DRIVER_OK waited for the reply timeout, and no longer: " + ms + " ms");
            assertTrue(bed.driver.needsReset());
            assertTrue(logs.anyContainsAll(PEER, "no reply to SET_VRING_CALL (vring 0", "within 1000 ms"), () -> logs.problems().toString());
            assertOtherDeviceWorks(bed);
        }
    }

    @Test
    void backendSignallingItsErrorFdBreaksTheDevice() {
        try (ProblemLog logs = new ProblemLog(); VhostTestBed bed = VhostTestBed.create(dir, VhostTestBed.Options.defaults())) {
            SplitQueue q = bed.driver.initialize(FEATURES, List.of(QueueSetup.size(16))).get(0);
            long buffer = bed.guest.pages().allocate(64);
            q.add(Chain.create().readable(buffer, 64), "a request the device cannot serve");
            q.kick();
            Poll.until(bed.driver::needsReset, Duration.ofSeconds(10), () -> "DEVICE_NEEDS_RESET after the back-end's error signal");
            assertTrue(logs.anyContainsAll(PEER, "signalled an error on queue 0"), () -> logs.problems().toString());
            VirtioRngDriver rng = new VirtioRngDriver(bed.driver);
            rng.initialize();
            assertFalse(bed.driver.needsReset(), "the guest's reset recovers it");
            assertEquals(64, rng.read(64).length);
        }
    }

    @Test
    void refusedMessageBreaksTheDeviceUntilTheGuestResetsIt() {
        VhostTestBed.Options o = VhostTestBed.Options.defaults()
                .faults(BackendFaults.NONE.withReplyFault(ReplyFault.REFUSE, VhostUserRequest.SET_VRING_ENABLE, 1));
        try (ProblemLog logs = new ProblemLog(); VhostTestBed bed = VhostTestBed.create(dir, o)) {
            VirtioRngDriver rng = new VirtioRngDriver(bed.driver);
            rng.initialize();
            assertTrue(bed.driver.needsReset(), "the refusal is reported by the time DRIVER_OK completes");
            assertTrue(logs.anyContainsAll(PEER, "back-end refused SET_VRING_ENABLE (vring 0, 1) (status 1)"), () -> logs.problems().toString());
            rng.initialize();   // reset and start again: the back-end accepts this time
            assertFalse(bed.driver.needsReset(), "a reset recovers a device whose back-end is still there");
            assertEquals(256, rng.read(256).length);
        }
    }
}
