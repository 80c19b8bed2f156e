package io.jvmm.pci.msix;

import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * An {@link InterruptSink} that records deliveries: a count per (address, data) and a total, and
 * lets a test wait for them. It is also the sink of a machine with no CPU, so a delivery takes no
 * lock and allocates nothing once a message has been seen: the counts are atomics, and a delivery
 * wakes waiters only when some thread is waiting. Thread-safe.
 *
 * <p>A waiter spins for up to {@link #SPIN_NS} before it sleeps: a device that polls its queues
 * completes a small request within microseconds, and waking a sleeping thread costs more than that
 * on a nested host (an interrupt to a halted CPU; {@code scripts/host-wakeup-cost}). Linux's block
 * layer polls its completions for the same reason (hybrid polling).
 */
public final class RecordingInterruptSink implements InterruptSink {
    private final ConcurrentHashMap<MsiMessage, AtomicLong> counts = new ConcurrentHashMap<>();
    private final AtomicLong total = new AtomicLong();
    private final AtomicInteger sleepers = new AtomicInteger();
    private final Object wakeup = new Object();
    private volatile MsiMessage last;
    /** How long a waiter spins before it sleeps. */
    static final long SPIN_NS = 50_000;

    @Override
    public void deliver(MsiMessage message) {
        AtomicLong count = counts.get(message);
        if (count == null) {
            count = counts.computeIfAbsent(message, m -> new AtomicLong());
        }
        count.incrementAndGet();
        last = message;
        total.incrementAndGet();
        // A sleeper counts itself before it looks at the counts (under the monitor), and we
        // counted before looking at the sleepers: one of us sees the other.
        if (sleepers.get() > 0) {
            synchronized (wakeup) {
                wakeup.notifyAll();
            }
        }
    }

    /** Deliveries of exactly this message. */
    public long count(MsiMessage message) {
        AtomicLong count = counts.get(message);
        return count == null ? 0 : count.get();
    }

    public long count(long address, int data) {
        return count(new MsiMessage(address, data));
    }

    /** All deliveries. */
    public long total() {
        return total.get();
    }

    /** The most recent delivery, or null. */
    public MsiMessage last() {
        return last;
    }

    /** A snapshot of the counts per message (messages delivered at least once). */
    public Map<MsiMessage, Long> counts() {
        Map<MsiMessage, Long> snapshot = new HashMap<>();
        counts.forEach((m, c) -> {
            long n = c.get();
            if (n > 0) {
                snapshot.put(m, n);
            }
        });
        return Map.copyOf(snapshot);
    }

    /**
     * Waits until {@code message} was delivered at least {@code atLeast} times in all.
     *
     * @return false if the timeout expired (or the thread was interrupted, whose flag is kept)
     */
    public boolean awaitCount(MsiMessage message, long atLeast, Duration timeout) {
        AtomicLong count = counts.get(message);
        if (count == null) {
            count = counts.computeIfAbsent(message, m -> new AtomicLong());
        }
        return await(count, atLeast, timeout);
    }

    /** Waits until at least {@code atLeast} deliveries in all; false on timeout. */
    public boolean awaitTotal(long atLeast, Duration timeout) {
        return await(total, atLeast, timeout);
    }

    private boolean await(AtomicLong value, long atLeast, Duration timeout) {
        if (value.get() >= atLeast) {
            return true;
        }
        long start = System.nanoTime();
        long deadline = start + timeout.toNanos();
        long spinEnd = start + Math.min(SPIN_NS, timeout.toNanos());
        while (System.nanoTime() - spinEnd < 0) {
            Thread.onSpinWait();
            if (value.get() >= atLeast) {
                return true;
            }
        }
        sleepers.incrementAndGet();
        try {
            synchronized (wakeup) {
                while (value.get() < atLeast) {
                    long remaining = deadline - System.nanoTime();
                    if (remaining <= 0) {
                        return false;
                    }
                    TimeUnit.NANOSECONDS.timedWait(wakeup, remaining);
                }
                return true;
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        } finally {
            sleepers.decrementAndGet();
        }
    }

    /** Forgets every delivery (those racing with this call may be counted or not). */
    public void clear() {
        counts.values().forEach(c -> c.set(0));
        total.set(0);
        last = null;
    }
}
