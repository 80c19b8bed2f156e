package io.jvmm.tests.vhost;

import io.jvmm.chardev.Await;
import io.jvmm.pci.msix.MsiMessage;
import io.jvmm.testkit.driver.GuestInterrupts;
import io.jvmm.testkit.driver.Poll;
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
    /**
     * For the experiment that expects losses: long enough to call a signal lost (each loss costs
     * this much). A test whose verdict is "nothing lost" uses {@link #VERDICT_LOSS_WAIT}.
     */
    static final Duration LOSS_WAIT = Duration.ofSeconds(1);
    /**
     * For a verdict of "no interrupt lost": a completion that is published but not announced
     * within this never will be. It costs nothing when the interrupt comes (in microseconds), and a
     * loaded machine cannot stretch a delivery that far.
     */
    static final Duration VERDICT_LOSS_WAIT = Duration.ofSeconds(10);

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
     * stopping early after {@code stopAfterLosses} lost interrupts; an interrupt not seen within
     * {@code lossWait} of its completion counts as lost.
     *
     * @throws AssertionError if a request is never completed at all
     */
    static Result run(VirtioPciDriver driver, SplitQueue queue, int cycles, int stopAfterLosses, Duration lossWait) {
        return run(driver, queue, cycles, stopAfterLosses, lossWait, false);
    }

    /**
     * As {@link #run(VirtioPciDriver, SplitQueue, int, int, Duration)}; with {@code functionMask}
     * each cycle masks the whole function (MSI-X control's function mask) instead of the vector.
     */
    static Result run(VirtioPciDriver driver, SplitQueue queue, int cycles, int stopAfterLosses, Duration lossWait,
                      boolean functionMask) {
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
            if (functionMask) {
                msix.setFunctionMask(true);
            } else {
                msix.mask(vector);
            }
            if (msix.isPending(vector)) {
                pendingAtUnmask++;
            }
            if (functionMask) {
                msix.setFunctionMask(false);
            } else {
                msix.unmask(vector);
            }
            if (!announced(queue, interrupts, message, seen, lossWait)) {
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
     * in the used ring but no interrupt came within lossWait (lost). An interrupt with nothing
     * used yet can only be a late one from an earlier cycle (the historic race re-delivers a lost
     * signal at the next masking): keep waiting for ours. A back-end slow to complete the request
     * is waited for (up to a hang guard) before lossWait starts: slowness is not a loss.
     */
    private static boolean announced(SplitQueue queue, GuestInterrupts interrupts, MsiMessage message, long seen, Duration lossWait) {
        long deadline = System.nanoTime() + lossWait.toNanos();
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
            if (!Poll.await(() -> queue.usedPending() > 0, Await.HANG_GUARD)) {
                throw new AssertionError("the back-end never completed the request: " + queue.describeState());
            }
            deadline = System.nanoTime() + lossWait.toNanos();   // from the completion on
        }
    }
}
