package io.jvmm.tests.vhost;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jvmm.chardev.Await;
import io.jvmm.chardev.ProcessThreads;
import io.jvmm.chardev.SocketChardevSpec;
import io.jvmm.testkit.TestMachine;
import io.jvmm.testkit.driver.Guest;
import io.jvmm.testkit.driver.GuestDriverException;
import io.jvmm.testkit.driver.virtio.Chain;
import io.jvmm.testkit.driver.virtio.QueueSetup;
import io.jvmm.testkit.driver.virtio.SplitQueue;
import io.jvmm.testkit.driver.virtio.UsedBuffer;
import io.jvmm.testkit.driver.virtio.VirtioPciDriver;
import io.jvmm.tests.support.ProblemLog;
import io.jvmm.virtio.pci.VirtioPciDevice;
import io.jvmm.virtio.vhost.backend.BackendFaults;
import io.jvmm.virtio.vhost.backend.FillingDevice;
import io.jvmm.virtio.vhost.frontend.ErrorCompletion;
import io.jvmm.virtio.vhost.frontend.VhostUserDevice;
import io.jvmm.virtio.vhost.frontend.VhostUserDeviceModel;
import io.jvmm.virtio.vhost.frontend.VhostUserDeviceOptions;
import io.jvmm.virtio.vhost.frontend.VhostUserMetrics;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A dead back-end does not hang the guest, and a new one serves the device after the driver's
 * reset, with the Java back-end as a separate process (SIGKILL, SIGSTOP) and a device whose error
 * reply is virtio-blk's (VIRTIO_BLK_S_IOERR in the last writable byte):
 * <ul>
 *   <li>every request in flight when the back-end dies comes back exactly once with the error:
 *       those the back-end took and kept while completing later ones out of order (their avail
 *       slots long overwritten: the ring went round three times since) and those it never took;
 *       the guest driver checks each used id is a head in flight, so a guess would fail here;</li>
 *   <li>a request made after the death gets the error at once;</li>
 *   <li>a stalled back-end is only disconnected: its request stays in flight until its process
 *       exits, and then comes back with the error;</li>
 *   <li>the driver's reset reconnects (client mode) or accepts a new back-end (server mode) and
 *       the device works again; without a back-end the reset completes and FEATURES_OK is refused.</li>
 * </ul>
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class DeadBackendTest {
    static final int QUEUE = 256;
    /** Writable bytes of a request the back-end takes and never returns. */
    static final int HOLD = 24;
    static final int NORMAL = 64;
    static final int IOERR = 1;
    static final VhostUserDeviceModel MODEL = VhostTestBed.RNG_MODEL.withErrorCompletion(ErrorCompletion.VIRTIO_BLK_IOERR);

    @TempDir
    Path dir;

    private final List<AutoCloseable> toClose = new ArrayList<>();

    @AfterEach
    void closeAll() throws Exception {
        for (int i = toClose.size() - 1; i >= 0; i--) {
            toClose.get(i).close();
        }
    }

    /** The machine with the vhost-user device, its driver and meters. */
    private final class Bed {
        final Path socket = dir.resolve("vhost.sock");
        final boolean frontendListens;
        final SimpleMeterRegistry meters = new SimpleMeterRegistry();
        BackendProcess backend;
        final TestMachine machine;
        final VhostUserDevice vhost;
        final VirtioPciDevice pci;
        final VirtioPciDriver driver;
        final Guest guest;

        Bed(boolean frontendListens, Duration replyTimeout) {
            this.frontendListens = frontendListens;
            backend = startBackend();
            machine = new TestMachine(64L << 20);
            toClose.add(machine);
            machine.setWriteTimeout(Duration.ofSeconds(20));
            SocketChardevSpec chardev = (frontendListens ? SocketChardevSpec.server("c0", socket, true) : SocketChardevSpec.client("c0", socket))
                    .withConnectTimeout(Duration.ofSeconds(30));
            vhost = VhostUserDevice.realize(VhostUserDeviceOptions.of("vhost0", chardev).withReplyTimeout(replyTimeout), MODEL,
                    new VhostUserMetrics(meters, "vhost0"));
            pci = machine.addVirtio(vhost);
            guest = Guest.of(machine);
            driver = VirtioPciDriver.probeFirst(guest, FillingDevice.DEVICE_TYPE);
            driver.setTimeout(Duration.ofSeconds(20));
        }

        BackendProcess startBackend() {
            BackendProcess p = BackendProcess.start(socket, "fill", 1, BackendFaults.NONE, frontendListens,
                    List.of("--hold-length=" + HOLD));
            toClose.add(p);
            if (!frontendListens) {
                Await.until(() -> socket.toFile().exists() || !p.isAlive(), "the back-end's socket " + socket);
                assertTrue(p.isAlive(), p::output);
            }
            return p;
        }

        SplitQueue init() {
            return driver.initialize(FillingDevice.FEATURES, List.of(QueueSetup.size(QUEUE))).get(0);
        }

        double counter(String name) {
            return meters.get(name).counter().count();
        }

        /** SIGSTOP, returning once every thread of the back-end is stopped: a worker still running could complete a request. */
        void freeze() throws IOException, InterruptedException {
            ProcessThreads.stop(backend.pid(), "the back-end");
        }
    }

    /** A request of {@code bytes} device-writable bytes, in a buffer of its own. */
    private record Request(String name, long buffer, int bytes) {
    }

    private Request submit(Bed bed, SplitQueue q, String name, int bytes) {
        Request r = new Request(name, bed.guest.pages().allocate(bytes), bytes);
        bed.guest.cpu().memory().write8(r.buffer + bytes - 1, 0xEE);
        q.add(Chain.create().writable(r.buffer, bytes), r);
        q.kick();
        return r;
    }

    private void assertFilled(Bed bed, UsedBuffer u, Request r) {
        assertEquals(r.bytes, u.length(), r.name + " used length");
        assertEquals(FillingDevice.pattern(r.bytes - 1) & 0xff, bed.guest.cpu().memory().read8(r.buffer + r.bytes - 1), r.name + " filled by the back-end");
    }

    private void assertError(Bed bed, UsedBuffer u, Request r) {
        assertEquals(r.bytes, u.length(), r.name + ": the error reply's used length covers the writable part");
        assertEquals(IOERR, bed.guest.cpu().memory().read8(r.buffer + r.bytes - 1), r.name + ": status byte VIRTIO_BLK_S_IOERR");
    }

    /** Collects used buffers until none is in flight. */
    private Map<Request, UsedBuffer> drain(SplitQueue q) {
        Map<Request, UsedBuffer> got = new HashMap<>();
        while (q.inFlight() > 0) {
            for (UsedBuffer u : q.awaitUsed(Duration.ofSeconds(20))) {
                assertEquals(null, got.put((Request) u.token(), u), "completed twice: " + u.token());
            }
        }
        return got;
    }

    @Test
    void everyRequestInFlightWhenTheBackEndDiesComesBackOnceWithTheError() throws Exception {
        Bed bed = new Bed(false, VhostUserDeviceOptions.DEFAULT_REPLY_TIMEOUT);
        try (ProblemLog log = new ProblemLog()) {
            SplitQueue q = bed.init();
            List<Request> kept = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                kept.add(submit(bed, q, "kept-" + i, HOLD));
            }
            // Three times round the ring, one request at a time: the back-end takes the kept ones
            // first (it serves in avail order) and completes all the others, out of order with them.
            for (int i = 0; i < 3 * QUEUE; i++) {
                Request r = submit(bed, q, "normal-" + i, NORMAL);
                List<UsedBuffer> used = q.awaitUsed(Duration.ofSeconds(20));
                assertEquals(1, used.size());
                assertEquals(r, used.get(0).token());
                assertFilled(bed, used.get(0), r);
            }
            assertEquals(3, q.inFlight(), "the kept requests are in flight, their avail slots reused " + 3 + " times");

            bed.freeze();   // frozen: what follows stays in the avail ring, not taken
            List<Request> untaken = new ArrayList<>();
            for (int i = 0; i < 4; i++) {
                untaken.add(submit(bed, q, "untaken-" + i, NORMAL));
            }
            bed.backend.kill();

            // The moment DEVICE_NEEDS_RESET is visible, every request in flight is answered already
            // (the front-end answers them first, on the same context): a driver that checks the
            // status while it waits finds them instead of giving up on them. Watched as closely as
            // the guest can (a spin on the status register), so the other order shows.
            long deadline = System.nanoTime() + Await.HANG_GUARD.toNanos();
            while (!bed.driver.needsReset()) {
                assertTrue(System.nanoTime() - deadline < 0, "DEVICE_NEEDS_RESET after the back-end died");
                Thread.onSpinWait();
            }
            assertEquals(kept.size() + untaken.size(), q.usedPending(),
                    "requests in flight still unanswered when DEVICE_NEEDS_RESET became visible: " + q.describeState());

            Map<Request, UsedBuffer> got = drain(q);
            List<Request> expected = new ArrayList<>(kept);
            expected.addAll(untaken);
            assertEquals(expected.size(), got.size(), "every request in flight came back: " + got.keySet());
            for (Request r : expected) {
                assertError(bed, got.get(r), r);
            }

            Request after = submit(bed, q, "after", NORMAL);
            Map<Request, UsedBuffer> late = drain(q);
            assertError(bed, late.get(after), after);

            assertEquals(8, bed.vhost.errorCompletions());
            assertEquals(8.0, bed.counter("jvmm.vhost.user.error.completions"));
            assertEquals(0.0, bed.counter("jvmm.vhost.user.inflight.overruns"), "the in-flight shadow never missed an entry");
            assertTrue(log.anyContainsAll("vhost0", "back-end gone", "requests in flight completed with an error reply", "queue 0: 7"),
                    () -> "the takeover is logged with its count: " + log.problems());
        }
    }

    @Test
    void aStalledBackEndKeepsItsRequestsUntilItsProcessExits() throws Exception {
        Bed bed = new Bed(false, Duration.ofMillis(500));
        SplitQueue q = bed.init();
        Request first = submit(bed, q, "first", NORMAL);
        assertFilled(bed, drain(q).get(first), first);

        bed.freeze();
        Request stuck = submit(bed, q, "stuck", NORMAL);
        // A control message the back-end cannot answer: the mask waits for SET_VRING_CALL's reply
        // and ends after the reply timeout with the connection failed (stalled, not gone).
        bed.driver.msix().mask(bed.driver.queueVector(0));
        Await.until(() -> bed.pci.isBroken(), "the stalled back-end breaks the device");
        bed.driver.msix().unmask(bed.driver.queueVector(0));
        Await.stays(() -> q.usedPending() == 0, "a stalled back-end's request is not completed by the front-end");

        bed.backend.kill();   // now its process has exited: nothing can write the ring any more
        Map<Request, UsedBuffer> got = drain(q);
        assertError(bed, got.get(stuck), stuck);
        assertEquals(1, bed.vhost.errorCompletions());
    }

    @Test
    void aResetReconnectsToANewBackEndInClientMode() throws Exception {
        reconnect(false);
    }

    @Test
    void aResetAcceptsANewBackEndInServerMode() throws Exception {
        reconnect(true);
    }

    private void reconnect(boolean frontendListens) throws Exception {
        Bed bed = new Bed(frontendListens, VhostUserDeviceOptions.DEFAULT_REPLY_TIMEOUT);
        SplitQueue q = bed.init();
        Request before = submit(bed, q, "before", NORMAL);
        assertFilled(bed, drain(q).get(before), before);

        bed.backend.kill();
        Request lost = submit(bed, q, "lost", NORMAL);
        assertError(bed, drain(q).get(lost), lost);

        // No back-end: the reset completes and the new driver is refused, within the reconnect wait.
        long t0 = System.nanoTime();
        GuestDriverException refused = assertThrows(GuestDriverException.class, bed::init);
        assertTrue(refused.getMessage().contains("refused features"), refused::getMessage);
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        assertTrue(ms < VhostUserDevice.RECONNECT_WAIT.toMillis() + 5000, "refused after " + ms + " ms");
        assertEquals(0.0, bed.counter("jvmm.vhost.user.reconnects"));

        bed.backend = bed.startBackend();
        if (frontendListens) {
            // The device takes a new back-end only within its reset's wait (RECONNECT_WAIT): the
            // back-end, a JVM starting on a possibly loaded machine, must be connected before it.
            BackendProcess p = bed.backend;
            Await.until(() -> p.output().contains(": connected to ") || !p.isAlive(), "the new back-end connected to the device");
            assertTrue(p.isAlive(), p::output);
        }
        q = bed.init();
        for (int i = 0; i < 10; i++) {
            Request r = submit(bed, q, "again-" + i, NORMAL);
            assertFilled(bed, drain(q).get(r), r);
        }
        assertFalse(bed.driver.needsReset());
        assertEquals(1.0, bed.counter("jvmm.vhost.user.reconnects"));
    }
}
