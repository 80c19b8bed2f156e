package io.jvmm.pci.dispatch;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Supplier;

/**
 * Helpers for the completions a guest write may hand back (rule 1: the vCPU waits for the
 * acknowledgement of a control change before the guest-visible operation completes).
 */
public final class IoCompletion {

    /** An already-completed completion: the write needs no waiting. Shared, never completed again. */
    public static final CompletableFuture<Void> DONE = CompletableFuture.completedFuture(null);

    private IoCompletion() {
    }

    /**
     * Combines completions: {@link #DONE} if every part has already completed normally (the
     * common case, so no allocation), the single pending part if there is only one, otherwise a
     * completion that finishes when all parts have (failing if any part fails).
     */
    public static CompletableFuture<Void> all(List<CompletableFuture<Void>> parts) {
        CompletableFuture<Void> onlyPending = null;
        int pending = 0;
        for (CompletableFuture<Void> part : parts) {
            if (part == null) {
                throw new IllegalArgumentException("null completion in " + parts.size() + " parts");
            }
            if (part == DONE || (part.isDone() && !part.isCompletedExceptionally())) {
                continue;
            }
            pending++;
            onlyPending = part;
        }
        if (pending == 0) {
            return DONE;
        }
        if (pending == 1) {
            return onlyPending;
        }
        return CompletableFuture.allOf(parts.toArray(new CompletableFuture<?>[0]));
    }

    /**
     * Waits for {@code f} at most {@code timeout}. A failure of {@code f} is rethrown as its
     * cause when unchecked, otherwise wrapped in {@link IoFailedException}; an expired timeout
     * throws {@link IoTimeoutException} naming {@code what} and the timeout.
     */
    public static void await(CompletableFuture<Void> f, Duration timeout, String what) {
        if (f == DONE) {
            return;
        }
        await(f, timeout, () -> what);
    }

    /**
     * As {@link #await(CompletableFuture, Duration, String)}, describing the operation only if it
     * fails: a vCPU's or vfio-user session's write formats no message when it completes in time.
     */
    public static void await(CompletableFuture<Void> f, Duration timeout, Supplier<String> describe) {
        if (f == DONE) {
            return;
        }
        try {
            f.get(timeout.toNanos(), TimeUnit.NANOSECONDS);
            return;
        } catch (TimeoutException e) {
            throw new IoTimeoutException("timed out after " + timeout.toMillis() + " ms waiting for " + describe.get());
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof RuntimeException re) {
                throw re;
            }
            if (cause instanceof Error err) {
                throw err;
            }
            throw new IoFailedException(describe.get() + " failed: " + cause, cause);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IoFailedException("interrupted while waiting for " + describe.get(), e);
        } catch (java.util.concurrent.CancellationException e) {
            throw new IoFailedException(describe.get() + " was cancelled", e);
        }
    }
}
