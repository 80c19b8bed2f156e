package io.jvmm.testkit.driver;

import java.time.Duration;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/**
 * Bounded polling, as a guest driver polls a register: check, park briefly (backing off from
 * 20 µs to 1 ms so a quick answer is seen quickly and a slow one costs little CPU), give up at
 * the deadline with an exception saying what was awaited.
 */
public final class Poll {
    private static final long FIRST_PARK_NANOS = 20_000;
    private static final long MAX_PARK_NANOS = 1_000_000;

    private Poll() {
    }

    /** Waits until {@code condition} holds; false if {@code timeout} passed first. */
    public static boolean await(BooleanSupplier condition, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        long park = FIRST_PARK_NANOS;
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() - deadline >= 0) {
                return condition.getAsBoolean();
            }
            if (Thread.currentThread().isInterrupted()) {
                throw new GuestDriverException("interrupted while polling");
            }
            LockSupport.parkNanos(park);
            park = Math.min(park * 2, MAX_PARK_NANOS);
        }
        return true;
    }

    /** Waits until {@code condition} holds, or throws a {@link DriverTimeoutException} naming {@code what}. */
    public static void until(BooleanSupplier condition, Duration timeout, Supplier<String> what) {
        if (!await(condition, timeout)) {
            throw new DriverTimeoutException("timed out after " + timeout.toMillis() + " ms waiting for " + what.get());
        }
    }
}
