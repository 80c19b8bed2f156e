package io.jvmm.chardev;

import java.time.Duration;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/**
 * Waiting for an event in a test: check, park briefly (20 µs doubling to 1 ms, so a quick event is
 * seen quickly and a slow one costs no CPU the code under test needs), and fail only at a bound
 * that guards against a hang, never at one the event may plausibly miss on a loaded machine.
 */
public final class Await {
    /** The bound for an event that normally takes microseconds to milliseconds. */
    public static final Duration HANG_GUARD = Duration.ofSeconds(30);

    private static final long FIRST_PARK_NANOS = 20_000;
    private static final long MAX_PARK_NANOS = 1_000_000;

    private Await() {
    }

    /** How long a negative check ({@link #stays}) watches: long enough for a wrong answer to show up. */
    public static final Duration QUIET_PERIOD = Duration.ofMillis(100);

    /** Waits until condition holds, for up to {@link #HANG_GUARD}; then fails saying what was awaited. */
    public static void until(BooleanSupplier condition, String what) {
        until(condition, HANG_GUARD, () -> what);
    }

    /** Waits until condition holds, for up to bound; then throws AssertionError with what.get(). */
    public static void until(BooleanSupplier condition, Duration bound, Supplier<String> what) {
        long deadline = System.nanoTime() + bound.toNanos();
        long park = FIRST_PARK_NANOS;
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() - deadline >= 0) {
                if (condition.getAsBoolean()) {
                    return;
                }
                throw new AssertionError("not within " + bound.toMillis() + " ms: " + what.get());
            }
            if (Thread.currentThread().isInterrupted()) {
                throw new AssertionError("interrupted while waiting for " + what.get());
            }
            LockSupport.parkNanos(park);
            park = Math.min(park * 2, MAX_PARK_NANOS);
        }
    }

    /**
     * A negative check: condition holds now and for all of {@link #QUIET_PERIOD} ("a stopped ring
     * is not processed"). A correct product passes it however its threads are scheduled; the
     * period only gives a wrong one the time to show.
     */
    public static void stays(BooleanSupplier condition, String what) {
        long end = System.nanoTime() + QUIET_PERIOD.toNanos();
        do {
            if (!condition.getAsBoolean()) {
                throw new AssertionError("no longer true: " + what);
            }
            LockSupport.parkNanos(MAX_PARK_NANOS);
        } while (System.nanoTime() - end < 0);
        if (!condition.getAsBoolean()) {
            throw new AssertionError("no longer true: " + what);
        }
    }
}
