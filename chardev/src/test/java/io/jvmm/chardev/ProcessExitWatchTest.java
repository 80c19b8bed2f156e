package io.jvmm.chardev;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** pidfd watches and SO_PEERCRED: what a front-end uses to learn that a stalled back-end's process ended. */
class ProcessExitWatchTest {

    @Test
    void theExitOfAWatchedProcessIsReportedOnceOnTheContext() throws Exception {
        Process p = new ProcessBuilder("sleep", "60").start();
        try (EventContext ctx = EventContext.start("exit-watch")) {
            CountDownLatch exited = new CountDownLatch(1);
            AtomicInteger calls = new AtomicInteger();
            ProcessExitWatch w = ProcessExitWatch.watch(ctx, p.pid(), "sleep's exit", () -> {
                assertTrue(ctx.inContext());
                calls.incrementAndGet();
                exited.countDown();
            });
            assertNotNull(w, "pidfd_open works on this kernel");
            Await.stays(() -> exited.getCount() == 1, "no exit reported while the process runs");
            p.destroyForcibly();
            assertTrue(exited.await(Await.HANG_GUARD.toMillis(), TimeUnit.MILLISECONDS), "the exit is reported");
            ctx.submit(() -> null).get(10, TimeUnit.SECONDS);
            assertEquals(1, calls.get());
            assertTrue(w.isCancelled());
        } finally {
            p.destroyForcibly();
        }
    }

    @Test
    void aProcessAlreadyGoneIsReportedAtOnceAndACancelledWatchNever() throws Exception {
        Process gone = new ProcessBuilder("true").start();
        assertTrue(gone.waitFor(10, TimeUnit.SECONDS));
        Process alive = new ProcessBuilder("sleep", "60").start();
        try (EventContext ctx = EventContext.start("exit-watch")) {
            CountDownLatch reported = new CountDownLatch(1);
            assertNotNull(ProcessExitWatch.watch(ctx, gone.pid(), "true's exit", reported::countDown));
            assertTrue(reported.await(Await.HANG_GUARD.toMillis(), TimeUnit.MILLISECONDS));

            AtomicInteger calls = new AtomicInteger();
            ProcessExitWatch w = ProcessExitWatch.watch(ctx, alive.pid(), "sleep's exit", calls::incrementAndGet);
            w.cancel();
            alive.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            ctx.submit(() -> null).get(10, TimeUnit.SECONDS);
            assertEquals(0, calls.get(), "a cancelled watch reports nothing");
        } finally {
            alive.destroyForcibly();
        }
    }

    @Test
    void theSocketPeerIsKnownByItsPid() {
        UnixSocketChannel[] pair = UnixSocketChannel.pair();
        try {
            assertEquals(ProcessHandle.current().pid(), pair[0].peerPid());
        } finally {
            pair[0].close();
            pair[1].close();
        }
    }
}
