package io.jvmm.tests.vhost;

import io.jvmm.pci.msix.MsiMessage;
import io.jvmm.testkit.driver.GuestInterrupts;
import io.jvmm.testkit.driver.pci.MsixDriver;
import io.jvmm.testkit.driver.virtio.Chain;
import io.jvmm.testkit.driver.virtio.SplitQueue;
import io.jvmm.testkit.driver.virtio.UsedBuffer;
import io.jvmm.testkit.driver.virtio.VirtioPciDriver;
import java.time.Duration;
import java.util.List;

/**
 * The guest side of the rule-2 experiment. Each cycle publishes one request and kicks, then
 * masks and unmasks the queue's vector while the back-end completes the request concurrently,
 * then waits for the request's interrupt. With EVENT_IDX re-armed before each request the
 * back-end must signal every completion, so a used entry without an interrupt after a generous
 * wait is an interrupt lost: nothing will announce it any more (the vector stays unmasked).
 */
final class MaskCycles {
    /** Far beyond any scheduling hiccup: a completion that is published but not announced by then never will be. */
    static final Duration LOSS_WAIT = Duration.ofSeconds(1);

    record Result(int cycles, int lost, int pendingAtUnmask, long nanos) {
        @Override
        public String toString() {
            return String.format("%d cycles in %d ms (%.1f us each): %d interrupts lost, %d completions pending in the PBA at unmask",
                    cycles, nanos / 1_000_000, nanos / 1000.0 / Math.max(1, cycles), lost, pendingAtUnmask);
        }
    }

    private MaskCycles() {
    }

    /**
     * Runs up to {@code cycles} cycles on queue 0 of {@code driver} (initialised with EVENT_IDX),
     * stopping early after {@code stopAfterLosses} lost interrupts.
     *
     * @throws AssertionError if a request is never completed at all
     */
    static Result run(VirtioPciDriver driver, SplitQueue queue, int cycles, int stopAfterLosses) {
        if (!queue.eventIdx()) {
            throw new IllegalArgumentException("the experiment needs EVENT_IDX so that every completion is signalled");
        }
        MsixDriver msix = driver.msix();
        GuestInterrupts interrupts = driver.guest().interrupts();
        int vector = driver.queueVector(queue.index());
        MsiMessage message = queue.message();
        long buffer = driver.guest().pages().allocate(64);
        int lost = 0;
        int pendingAtUnmask = 0;
        int done = 0;
        long start = System.nanoTime();
        for (; done < cycles && lost < stopAfterLosses; done++) {
            long seen = interrupts.count(message);
            Object token = done;
            queue.add(Chain.create().writable(buffer, 64), token);
            queue.kick();
            msix.mask(vector);
            if (msix.isPending(vector)) {
                pendingAtUnmask++;
            }
            msix.unmask(vector);
            if (!announced(queue, interrupts, message, seen)) {
                lost++;
            }
            List<UsedBuffer> used = queue.takeUsed();
            if (used.size() != 1 || used.get(0).token() != token || used.get(0).length() != 64) {
                throw new AssertionError("cycle " + done + ": expected request " + token + " back with 64 bytes, got " + used);
            }
        }
        driver.guest().pages().free(buffer);
        return new Result(done, lost, pendingAtUnmask, System.nanoTime() - start);
    }

    /**
     * Waits for an interrupt that follows the request's completion. False if the completion is
     * in the used ring but no interrupt came (lost). An interrupt with nothing used yet can only
     * be a late one from an earlier cycle (the historic race re-delivers a lost signal at the
     * next masking): keep waiting for ours.
     */
    private static boolean announced(SplitQueue queue, GuestInterrupts interrupts, MsiMessage message, long seen) {
        long deadline = System.nanoTime() + LOSS_WAIT.toNanos();
        long after = seen;
        while (true) {
            long left = deadline - System.nanoTime();
            if (left > 0 && interrupts.awaitMoreThan(message, after, Duration.ofNanos(left))) {
                if (queue.usedPending() > 0) {
                    return true;
                }
                after = interrupts.count(message);
                continue;
            }
            if (queue.usedPending() > 0) {
                return false;
            }
            throw new AssertionError("the back-end never completed the request: " + queue.describeState());
        }
    }
}
