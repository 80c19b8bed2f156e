package io.jvmm.chardev;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(value = 30, unit = TimeUnit.SECONDS)
class EventContextTest {
    private final List<AutoCloseable> toClose = new CopyOnWriteArrayList<>();

    private EventContext context(String name) {
        EventContext c = EventContext.start(name);
        toClose.add(c);
        return c;
    }

    private <T extends AutoCloseable> T closeLater(T c) {
        toClose.add(0, c); // closed before the contexts
        return c;
    }

    @AfterEach
    void closeAll() throws Exception {
        for (AutoCloseable c : toClose) {
            c.close();
        }
    }

    @Test
    void tasksRunInOrderOnTheContextThread() throws Exception {
        EventContext c = context("order");
        List<Integer> seen = Collections.synchronizedList(new ArrayList<>());
        for (int i = 0; i < 100; i++) {
            int n = i;
            c.execute(() -> seen.add(n));
        }
        String thread = c.submit(() -> Thread.currentThread().getName() + " " + c.inContext()).get(5, TimeUnit.SECONDS);
        assertEquals("ctx-order true", thread);
        assertFalse(c.inContext());
        List<Integer> expected = new ArrayList<>();
        for (int i = 0; i < 100; i++) {
            expected.add(i);
        }
        assertEquals(expected, seen);
    }

    /** Many threads hand work over concurrently; a lost wake-up would leave a future pending. */
    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void noWakeUpIsLostUnderConcurrentSubmission() throws Exception {
        EventContext c = context("busy");
        AtomicInteger ran = new AtomicInteger();
        ExecutorService threads = Executors.newFixedThreadPool(4);
        try {
            List<CompletableFuture<Void>> producers = new ArrayList<>();
            for (int t = 0; t < 4; t++) {
                producers.add(CompletableFuture.runAsync(() -> {
                    for (int i = 0; i < 2000; i++) {
                        c.execute(ran::incrementAndGet);
                        try {
                            c.submit(ran::incrementAndGet).get(Await.HANG_GUARD.toMillis(), TimeUnit.MILLISECONDS);
                        } catch (Exception e) {
                            throw new AssertionError("submitted task " + i + " never ran", e);
                        }
                    }
                }, threads));
            }
            for (CompletableFuture<Void> p : producers) {
                p.get(2 * Await.HANG_GUARD.toMillis(), TimeUnit.MILLISECONDS);
            }
            c.waitUntil(() -> ran.get() == 4 * 2000 * 2, Await.HANG_GUARD, "all tasks");
        } finally {
            threads.shutdownNow();
            assertTrue(threads.awaitTermination(Await.HANG_GUARD.toMillis(), TimeUnit.MILLISECONDS), "the producer threads ended");
        }
    }

    @Test
    void submitCarriesExceptionsAndAFailingTaskDoesNotKillTheLoop() throws Exception {
        EventContext c = context("failing");
        CompletableFuture<Object> f = c.submit(() -> {
            throw new IllegalStateException("boom");
        });
        ExecutionException e = assertThrows(ExecutionException.class, () -> f.get(5, TimeUnit.SECONDS));
        assertEquals("boom", e.getCause().getMessage());
        c.execute(() -> {
            throw new IllegalStateException("ignored boom");
        });
        assertEquals(42, c.submit(() -> 42).get(5, TimeUnit.SECONDS));
    }

    @Test
    void timersFireInDeadlineOrderAndCancelledOnesDoNot() throws Exception {
        EventContext c = context("timers");
        List<String> fired = new CopyOnWriteArrayList<>();
        CountDownLatch done = new CountDownLatch(1);
        // Scheduled and cancelled by one task on the context thread, so no timer can fire in
        // between, however long this thread is descheduled; start is taken before any deadline.
        long start = c.submit(() -> {
            long t0 = System.nanoTime();
            c.schedule(Duration.ofMillis(150), "late", () -> {
                fired.add("late");
                done.countDown();
            });
            c.schedule(Duration.ofMillis(50), "early", () -> fired.add("early"));
            Registration cancelled = c.schedule(Duration.ofMillis(100), "cancelled", () -> fired.add("cancelled"));
            cancelled.cancel();
            assertTrue(cancelled.isCancelled());
            return t0;
        }).get(Await.HANG_GUARD.toMillis(), TimeUnit.MILLISECONDS);
        assertTrue(done.await(Await.HANG_GUARD.toMillis(), TimeUnit.MILLISECONDS));
        assertTrue(System.nanoTime() - start >= TimeUnit.MILLISECONDS.toNanos(150), "timer fired early");
        assertEquals(List.of("early", "late"), fired);
    }

    @Test
    void eventFdSignalsAreConsumedAndDelivered() throws Exception {
        EventContext c = context("eventfd");
        EventFd e = closeLater(EventFd.create());
        AtomicLong total = new AtomicLong();
        List<String> threads = new CopyOnWriteArrayList<>();
        c.addEventFd(e, "test doorbell", n -> {
            total.addAndGet(n);
            threads.add(Thread.currentThread().getName());
        });
        e.signal();
        e.signal(4);
        c.waitUntil(() -> total.get() == 5, Duration.ofSeconds(5), "doorbell count 5");
        assertEquals(0, e.consume(), "the context consumed the counter");
        assertTrue(threads.stream().allMatch("ctx-eventfd"::equals), threads.toString());
    }

    @Test
    void readableFdCallbacksStopAfterCancel() throws Exception {
        EventContext c = context("readable");
        UnixSocketChannel[] p = UnixSocketChannel.pair();
        closeLater(p[0]);
        closeLater(p[1]);
        List<Byte> got = new CopyOnWriteArrayList<>();
        Registration r = c.addReadable(p[1].fd(), "test socket", () -> {
            ByteBuffer b = ByteBuffer.allocate(1);
            p[1].receive(b, 0);
            got.add(b.get(0));
        });
        p[0].send(ByteBuffer.wrap(new byte[] {7}));
        c.waitUntil(() -> got.size() == 1, Duration.ofSeconds(5), "first byte");
        r.cancel();
        p[0].send(ByteBuffer.wrap(new byte[] {8}));
        settle(c);
        assertEquals(List.of((byte) 7), got, "no callback after cancel");
        assertEquals(r.what(), "test socket");
    }

    @Test
    void aThrowingFdCallbackIsCancelledAndTheLoopGoesOn() throws Exception {
        EventContext c = context("throwing");
        EventFd e = closeLater(EventFd.create());
        AtomicInteger calls = new AtomicInteger();
        Registration r = c.addReadable(e.fd(), "never reads", () -> {
            calls.incrementAndGet();
            throw new IllegalStateException("handler bug");
        });
        e.signal();
        c.waitUntil(r::isCancelled, Duration.ofSeconds(5), "cancellation of the failing source");
        assertEquals(1, calls.get(), "not spinning on the level-triggered fd");
        assertEquals("ok", c.submit(() -> "ok").get(5, TimeUnit.SECONDS));
    }

    @Test
    void duplicateRegistrationIsAClearError() {
        EventContext c = context("dup");
        EventFd e = closeLater(EventFd.create());
        c.addEventFd(e, "first", n -> { });
        NativeException ex = assertThrows(NativeException.class, () -> c.addEventFd(e, "second", n -> { }));
        assertEquals("EEXIST", ex.errnoName());
        assertTrue(ex.getMessage().contains("second on context dup"), ex.getMessage());
    }

    @Test
    void closeStopsTheThreadRejectsWorkAndLeavesRegisteredFdsOpen() throws Exception {
        EventContext c = context("closing");
        EventFd e = closeLater(EventFd.create());
        c.addEventFd(e, "doorbell", n -> { });
        CountDownLatch blocked = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        c.execute(() -> {
            blocked.countDown();
            await(release);
            c.close(); // from its own thread: returns at once, the loop ends after this task
        });
        assertTrue(blocked.await(5, TimeUnit.SECONDS));
        CompletableFuture<String> queued = c.submit(() -> "never");
        release.countDown();
        c.close();
        c.close();
        assertTrue(c.isClosed());
        ExecutionException ex = assertThrows(ExecutionException.class, () -> queued.get(5, TimeUnit.SECONDS));
        assertTrue(ex.getCause() instanceof RejectedExecutionException, ex.getCause().toString());
        assertThrows(RejectedExecutionException.class, () -> c.execute(() -> { }));
        assertThrows(IllegalStateException.class, () -> c.addEventFd(e, "late", n -> { }));
        e.signal();
        assertEquals(1, e.consume(), "the context did not close an fd it does not own");
    }

    @Test
    void waitUntilFromAnotherThreadSeesTheContextsProgress() {
        EventContext c = context("foreign-wait");
        AtomicBoolean flag = new AtomicBoolean();
        c.schedule(Duration.ofMillis(100), "set flag", () -> flag.set(true));
        c.waitUntil(flag::get, Duration.ofSeconds(5), "the flag");
        assertTrue(flag.get());
        SyncWaitTimeoutException e = assertThrows(SyncWaitTimeoutException.class,
                () -> c.waitUntil(() -> false, Duration.ofMillis(100), "something that never happens"));
        assertTrue(e.getMessage().contains("'foreign-wait'") && e.getMessage().contains("something that never happens")
                && e.getMessage().contains("timed out after"), e.getMessage());
    }

    /**
     * Rule 5, the good case: the listener that must accept the connection is on the same context
     * X as the synchronous wait, so X's nested loop accepts it.
     */
    @Test
    void syncWaitOnAContextRunsItsOwnListener(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        EventContext x = context("X");
        java.nio.file.Path path = dir.resolve("x.sock");
        UnixServerSocket server = closeLater(UnixServerSocket.listen(path));
        AtomicReference<UnixSocketChannel> accepted = new AtomicReference<>();
        x.addReadable(server.fd(), "listener on X", () -> accepted.set(closeLater(server.accept())));

        String result = x.submit(() -> {
            UnixSocketChannel client = closeLater(UnixSocketChannel.tryConnect(path).orElseThrow());
            x.waitUntil(() -> accepted.get() != null, Duration.ofSeconds(5), "the server to accept our connection");
            // Round trip over the accepted connection proves it is the client's peer.
            client.send(ByteBuffer.wrap(new byte[] {1}));
            ByteBuffer b = ByteBuffer.allocate(1);
            accepted.get().receive(b, 0);
            return "accepted " + b.get(0) + " on " + Thread.currentThread().getName();
        }).get(10, TimeUnit.SECONDS);
        assertEquals("accepted 1 on ctx-X", result);
    }

    /**
     * Rule 5, the bad case: the listener sits on context Y, which is blocked, while X waits
     * synchronously for the accept. The watchdog reports X's wait, and the wait fails with a
     * clear error at its timeout instead of hanging.
     */
    @Test
    void syncWaitOnTheWrongContextIsReportedAndTimesOut(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
            throws Exception {
        Watchdog watchdog = Watchdog.instance();
        Duration oldThreshold = watchdog.threshold();
        watchdog.setThreshold(Duration.ofMillis(200));
        List<StalledWaitReport> reports = new CopyOnWriteArrayList<>();
        try (Watchdog.Subscription s = watchdog.subscribe(reports::add)) {
            EventContext x = context("X2");
            EventContext y = context("Y2");
            java.nio.file.Path path = dir.resolve("y.sock");
            UnixServerSocket server = closeLater(UnixServerSocket.listen(path));
            AtomicReference<UnixSocketChannel> accepted = new AtomicReference<>();
            y.addReadable(server.fd(), "listener on Y", () -> accepted.set(closeLater(server.accept())));
            CountDownLatch releaseY = new CountDownLatch(1);
            CountDownLatch yBlocked = new CountDownLatch(1);
            y.execute("a task that blocks Y", () -> {
                yBlocked.countDown();
                await(releaseY);
            });
            assertTrue(yBlocked.await(5, TimeUnit.SECONDS));

            // X waits for the accept until the watchdog has reported the wait (the event itself,
            // not a race between the watchdog's period and a short timeout)...
            CompletableFuture<Object> waiting = x.submit(() -> {
                closeLater(UnixSocketChannel.tryConnect(path).orElseThrow());
                x.waitUntil(() -> accepted.get() != null || reports.stream().anyMatch(r -> r.context().equals("X2")),
                        Await.HANG_GUARD, "the accept by Y's listener");
                // ...then waits again with a short timeout: nothing can come, so it times out.
                long start = System.nanoTime();
                SyncWaitTimeoutException timeout = assertThrows(SyncWaitTimeoutException.class,
                        () -> x.waitUntil(() -> accepted.get() != null, Duration.ofMillis(300), "the accept by Y's listener"));
                assertTrue(System.nanoTime() - start >= TimeUnit.MILLISECONDS.toNanos(300), "waited the full timeout");
                return timeout;
            });
            SyncWaitTimeoutException timeout = (SyncWaitTimeoutException) waiting.get(2 * Await.HANG_GUARD.toMillis(), TimeUnit.MILLISECONDS);
            assertNull(accepted.get(), "Y is blocked: nothing accepted the connection");
            releaseY.countDown();
            y.waitUntil(() -> accepted.get() != null, Await.HANG_GUARD, "Y's late accept once unblocked");

            assertEquals("X2", timeout.context());
            assertEquals("the accept by Y's listener", timeout.what());
            assertTrue(timeout.getMessage().contains("'X2'") && timeout.getMessage().contains("the accept by Y's listener")
                    && timeout.getMessage().contains("timed out after"), timeout.getMessage());
            assertTrue(timeout.elapsed().toMillis() >= 300, "waited the full timeout: " + timeout.elapsed());

            StalledWaitReport report = reports.stream().filter(r -> r.context().equals("X2")).findFirst()
                    .orElseThrow(() -> new AssertionError("watchdog did not report X's wait: " + reports));
            assertEquals("the accept by Y's listener", report.what());
            assertEquals("ctx-X2", report.waitingThread());
            assertTrue(report.stalled().toMillis() >= 200, report.message());
            assertTrue(report.message().contains("'X2'") && report.message().contains("the accept by Y's listener"),
                    report.message());
        } finally {
            watchdog.setThreshold(oldThreshold);
        }
    }

    /** The report says what a blocked context thread is doing (its task and stack). */
    @Test
    void watchdogReportShowsWhatABlockedContextThreadIsDoing() throws Exception {
        Watchdog watchdog = Watchdog.instance();
        Duration oldThreshold = watchdog.threshold();
        watchdog.setThreshold(Duration.ofMillis(150));
        List<StalledWaitReport> reports = new CopyOnWriteArrayList<>();
        try (Watchdog.Subscription s = watchdog.subscribe(reports::add)) {
            EventContext c = context("blocked");
            CountDownLatch release = new CountDownLatch(1);
            c.execute("a task stuck on a latch", () -> await(release));
            // Waits for the report itself (the context makes no progress meanwhile), not for a
            // timeout the watchdog might not beat on a loaded machine.
            c.waitUntil(() -> reports.stream().anyMatch(r -> r.context().equals("blocked")), Await.HANG_GUARD,
                    "a reply that cannot come");
            release.countDown();
            StalledWaitReport report = reports.stream().filter(r -> r.context().equals("blocked")).findFirst()
                    .orElseThrow(() -> new AssertionError("no report: " + reports));
            assertEquals("a task stuck on a latch", report.running());
            assertTrue(report.contextThread().startsWith("ctx-blocked"), report.contextThread());
            assertTrue(report.contextStack().stream().anyMatch(f -> f.getClassName().contains("CountDownLatch")),
                    report.message());
        } finally {
            watchdog.setThreshold(oldThreshold);
        }
        Watchdog.Subscription unsubscribed = watchdog.subscribe(reports::add);
        unsubscribed.close();
    }

    /** A callback that waits is not re-entered by its own still-readable fd in the nested loop. */
    @Test
    void nestedWaitDoesNotReenterABusyCallback() throws Exception {
        EventContext c = context("nested");
        UnixSocketChannel[] p = UnixSocketChannel.pair();
        closeLater(p[0]);
        closeLater(p[1]);
        AtomicInteger depth = new AtomicInteger();
        AtomicInteger maxDepth = new AtomicInteger();
        AtomicInteger bytes = new AtomicInteger();
        AtomicBoolean timerFired = new AtomicBoolean();
        c.addReadable(p[1].fd(), "two-byte socket", () -> {
            maxDepth.accumulateAndGet(depth.incrementAndGet(), Math::max);
            try {
                p[1].receive(ByteBuffer.allocate(1), 0);
                if (bytes.incrementAndGet() == 1) {
                    c.schedule(Duration.ofMillis(100), "unblock", () -> timerFired.set(true));
                    c.waitUntil(timerFired::get, Duration.ofSeconds(5), "the timer"); // fd still readable meanwhile
                }
            } finally {
                depth.decrementAndGet();
            }
        });
        p[0].send(ByteBuffer.wrap(new byte[] {1, 2}));
        c.waitUntil(() -> bytes.get() == 2, Duration.ofSeconds(5), "both bytes");
        assertEquals(1, maxDepth.get(), "callback was re-entered");
        assertTrue(timerFired.get());
    }

    /**
     * Returns once the context has run a whole loop iteration (epoll_wait and dispatch of what
     * was ready) after this call began: the second task can only run after an epoll_wait that
     * followed the first, and a level-triggered fd that was ready before is dispatched in it.
     */
    static void settle(EventContext c) throws Exception {
        for (int i = 0; i < 2; i++) {
            c.submit(() -> null).get(Await.HANG_GUARD.toMillis(), TimeUnit.MILLISECONDS);
        }
    }

    private static void await(CountDownLatch latch) {
        try {
            latch.await(20, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    // ---------------------------------------------------------------- polling

    /** Runs a no-op task and waits for it: one wake-up of the context. */
    private static void wakeAndWait(EventContext c) throws Exception {
        c.submit(() -> null).get(5, TimeUnit.SECONDS);
    }

    /**
     * Wakes the context every 10 ms until {@code done} counts down (at most 5 s): a wait that ends
     * within the maximum grows the poll window from 0, and the sleep after the next task then
     * polls first. (A wake queued while the previous task still runs ends no wait, hence a loop.)
     */
    private static boolean wakeUntil(EventContext c, CountDownLatch done) throws Exception {
        for (int i = 0; i < 500; i++) {
            if (done.await(10, TimeUnit.MILLISECONDS)) {
                return true;
            }
            wakeAndWait(c);
        }
        return done.await(0, TimeUnit.MILLISECONDS);
    }

    @Test
    void aReadyPollerIsRunOnTheContextThreadByPollingOnceTheWindowHasGrown() throws Exception {
        EventContext c = context("poll");
        c.setPollMaxNs(Duration.ofSeconds(10).toNanos());   // every wait here is shorter: the window only grows
        AtomicBoolean work = new AtomicBoolean();
        AtomicReference<String> ranOn = new AtomicReference<>();
        CountDownLatch ran = new CountDownLatch(1);
        c.addPoller("test work", () -> work.getAndSet(false), () -> {
            ranOn.set(Thread.currentThread().getName());
            ran.countDown();
        });
        work.set(true);
        assertTrue(wakeUntil(c, ran), "the ready poller was not run");
        assertEquals("ctx-poll", ranOn.get());
        assertTrue(c.polledDispatches() >= 1, "the handler ran, so polling found it ready");
    }

    @Test
    void withPollingOffPollersAreNeverAsked() throws Exception {
        EventContext c = context("no-poll");
        AtomicInteger asked = new AtomicInteger();
        c.addPoller("never", () -> {
            asked.incrementAndGet();
            return true;
        }, () -> { });
        for (int i = 0; i < 20; i++) {
            wakeAndWait(c);
        }
        assertEquals(0, c.pollMaxNs());
        assertEquals(0, asked.get());
        assertEquals(0, c.polledDispatches());
    }

    @Test
    void aCancelledPollerIsNotAskedAgainAndOneThatThrowsIsCancelledWhileTheContextGoesOn() throws Exception {
        EventContext c = context("poll-cancel");
        c.setPollMaxNs(Duration.ofSeconds(10).toNanos());
        Registration failing = c.addPoller("failing", () -> {
            throw new IllegalStateException("broken poller (expected by the test)");
        }, () -> { });
        AtomicInteger asked = new AtomicInteger();
        CountDownLatch firstAsk = new CountDownLatch(1);
        Registration counting = c.addPoller("counting", () -> {
            asked.incrementAndGet();
            firstAsk.countDown();
            return false;
        }, () -> { });
        assertTrue(wakeUntil(c, firstAsk), "the counting poller was never asked");
        assertTrue(failing.isCancelled(), "a poller whose check throws must be cancelled (it is asked first)");
        counting.cancel();
        wakeAndWait(c);   // a poll that started before the cancel may still be asking
        int after = asked.get();
        for (int i = 0; i < 5; i++) {
            wakeAndWait(c);
        }
        assertEquals(after, asked.get(), "a cancelled poller was asked again");
        assertEquals(42, (int) c.submit(() -> 42).get(5, TimeUnit.SECONDS));
    }

    /**
     * A source told of the start and end of polling: pollEnded comes before the context sleeps,
     * after a pollStarted, and work it reports is run at once (a source that stopped its producer
     * from signalling would otherwise never see what arrived as it asked for signals again).
     */
    @Test
    void pollingEndsBeforeTheContextSleepsAndWorkFoundThenIsRun() throws Exception {
        EventContext c = context("poll-end");
        c.setPollMaxNs(Duration.ofSeconds(10).toNanos());
        AtomicInteger started = new AtomicInteger();
        AtomicInteger ended = new AtomicInteger();
        AtomicReference<String> order = new AtomicReference<>("");
        CountDownLatch ran = new CountDownLatch(1);
        c.addPoller("start-end", new PollSource() {
            @Override
            public boolean ready() {
                return false;
            }

            @Override
            public void run() {
                ran.countDown();
            }

            @Override
            public void pollStarted() {
                started.incrementAndGet();
                order.accumulateAndGet("s", String::concat);
            }

            @Override
            public boolean pollEnded() {
                order.accumulateAndGet("e", String::concat);
                return ended.incrementAndGet() == 1;   // work arrived as signals were asked for again
            }
        });
        assertTrue(wakeUntil(c, ran), "work reported by pollEnded was not run");
        assertTrue(started.get() >= 1);
        String seen = order.get();
        assertTrue(seen.startsWith("se"), "polling must start before it ends: " + seen);
        assertFalse(seen.contains("ss") || seen.contains("ee"), "starts and ends alternate: " + seen);
    }
}
