package io.jvmm.pci.msix;

import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * An {@link InterruptSink} that records deliveries: a count per (address, data) and a total, and
 * lets a test wait for them. It is also the sink of a machine with no CPU. Thread-safe.
 */
public final class RecordingInterruptSink implements InterruptSink {

    private final ReentrantLock lock = new ReentrantLock();
    private final Condition delivered = lock.newCondition();
    private final Map<MsiMessage, Long> counts = new HashMap<>();
    private long total;
    private MsiMessage last;

    @Override
    public void deliver(MsiMessage message) {
        lock.lock();
        try {
            counts.merge(message, 1L, Long::sum);
            total++;
            last = message;
            delivered.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** Deliveries of exactly this message. */
    public long count(MsiMessage message) {
        lock.lock();
        try {
            return counts.getOrDefault(message, 0L);
        } finally {
            lock.unlock();
        }
    }

    public long count(long address, int data) {
        return count(new MsiMessage(address, data));
    }

    /** All deliveries. */
    public long total() {
        lock.lock();
        try {
            return total;
        } finally {
            lock.unlock();
        }
    }

    /** The most recent delivery, or null. */
    public MsiMessage last() {
        lock.lock();
        try {
            return last;
        } finally {
            lock.unlock();
        }
    }

    /** A snapshot of the counts per message. */
    public Map<MsiMessage, Long> counts() {
        lock.lock();
        try {
            return Map.copyOf(counts);
        } finally {
            lock.unlock();
        }
    }

    /**
     * Waits until {@code message} was delivered at least {@code atLeast} times in all.
     *
     * @return false if the timeout expired (or the thread was interrupted, whose flag is kept)
     */
    public boolean awaitCount(MsiMessage message, long atLeast, Duration timeout) {
        long remaining = timeout.toNanos();
        lock.lock();
        try {
            while (counts.getOrDefault(message, 0L) < atLeast) {
                if (remaining <= 0) {
                    return false;
                }
                remaining = delivered.awaitNanos(remaining);
            }
            return true;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        } finally {
            lock.unlock();
        }
    }

    /** Waits until at least {@code atLeast} deliveries in all; false on timeout. */
    public boolean awaitTotal(long atLeast, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        lock.lock();
        try {
            while (total < atLeast) {
                long remaining = deadline - System.nanoTime();
                if (remaining <= 0) {
                    return false;
                }
                delivered.await(remaining, TimeUnit.NANOSECONDS);
            }
            return true;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        } finally {
            lock.unlock();
        }
    }

    /** Forgets every delivery. */
    public void clear() {
        lock.lock();
        try {
            counts.clear();
            total = 0;
            last = null;
        } finally {
            lock.unlock();
        }
    }
}
