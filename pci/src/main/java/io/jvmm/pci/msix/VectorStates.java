package io.jvmm.pci.msix;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.locks.LockSupport;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The lock-free heart of MSI-X masking: one atomic state word per vector holding everything a
 * signal depends on (vector mask, a copy of the function mask, MSI-X disabled, pending), so that
 * a signal and a mask change racing on another thread are ordered by one CAS and no signal is
 * lost (rule 2): a signal either sees the vector deliverable and delivers, or sets PENDING while
 * it is blocked; PENDING is only cleared by the same CAS that unblocks the vector, whose caller
 * then delivers.
 */
final class VectorStates {
    private static final Logger log = LoggerFactory.getLogger(VectorStates.class);
    /** Spins this long (a delivery takes microseconds), then parks between looks. */
    private static final long SPIN_NANOS = TimeUnit.MICROSECONDS.toNanos(50);
    /** Past this a delivery is stuck in its sink: the mask completes anyway, with a warning. */
    static final long DELIVERY_BOUND_NANOS = TimeUnit.SECONDS.toNanos(2);

    static final int VECTOR_MASKED = 1;
    static final int FUNCTION_MASKED = 1 << 1;
    static final int DISABLED = 1 << 2;
    static final int PENDING = 1 << 3;
    /**
     * Deliveries in progress are counted in the bits above PENDING: a mask change waits for them,
     * so once the guest's mask write completes no message of that vector can still arrive.
     */
    static final int DELIVERING_ONE = 1 << 4;
    static final int DELIVERING = ~(DELIVERING_ONE - 1);
    /** Any of these blocks delivery (the "effective mask"). */
    static final int BLOCKED = VECTOR_MASKED | FUNCTION_MASKED | DISABLED;

    /** Result bits of {@link #change}. */
    static final int WAS_BLOCKED = 1;
    static final int NOW_BLOCKED = 1 << 1;
    static final int DELIVER_PENDING = 1 << 2;

    private final AtomicIntegerArray words;
    private final String deviceId;

    VectorStates(String deviceId, int vectors, int initial) {
        this.deviceId = deviceId;
        words = new AtomicIntegerArray(vectors);
        for (int v = 0; v < vectors; v++) {
            words.set(v, initial);
        }
    }

    int get(int vector) {
        return words.get(vector);
    }

    /**
     * A signal: DROPPED if disabled, PENDING (bit set) if blocked, else DELIVERED: the caller
     * delivers, then calls {@link #delivered}.
     */
    SignalResult signal(int vector) {
        while (true) {
            int s = words.get(vector);
            if ((s & DISABLED) != 0) {
                return SignalResult.DROPPED;
            }
            if ((s & BLOCKED) == 0) {
                if (words.compareAndSet(vector, s, s + DELIVERING_ONE)) {
                    return SignalResult.DELIVERED;
                }
                continue;
            }
            if ((s & PENDING) != 0 || words.compareAndSet(vector, s, s | PENDING)) {
                return SignalResult.PENDING;
            }
        }
    }

    /** The delivery that {@link #signal} granted is done. */
    void delivered(int vector) {
        words.getAndAdd(vector, -DELIVERING_ONE);
    }

    /**
     * Sets then clears bits of a vector's word in one CAS; if the result is unblocked with
     * PENDING set, PENDING is cleared in the same CAS and {@link #DELIVER_PENDING} returned: the
     * caller must deliver exactly once.
     */
    int change(int vector, int set, int clear) {
        while (true) {
            int s = words.get(vector);
            int n = (s | set) & ~clear;
            boolean deliver = (n & BLOCKED) == 0 && (n & PENDING) != 0;
            if (deliver) {
                n &= ~PENDING;
            }
            if (words.compareAndSet(vector, s, n)) {
                if ((s & BLOCKED) == 0 && (n & BLOCKED) != 0) {
                    awaitDeliveries(vector);
                }
                return ((s & BLOCKED) != 0 ? WAS_BLOCKED : 0)
                        | ((n & BLOCKED) != 0 ? NOW_BLOCKED : 0)
                        | (deliver ? DELIVER_PENDING : 0);
            }
        }
    }

    /**
     * Waits for deliveries that began before the vector became blocked (a sink hand-off takes
     * microseconds): after a mask no message of the vector may reach the guest, as on hardware.
     * Bounded: the waiter is a vCPU (the guest's mask write), which a sink stuck in a delivery
     * must not hold for ever; past the bound the mask completes and the stuck delivery is named.
     */
    private void awaitDeliveries(int vector) {
        long start = System.nanoTime();
        long parkNanos = 1_000;
        while ((words.get(vector) & DELIVERING) != 0) {
            long waited = System.nanoTime() - start;
            if (waited < SPIN_NANOS) {
                Thread.onSpinWait();
            } else if (waited < DELIVERY_BOUND_NANOS) {
                LockSupport.parkNanos(parkNanos);
                parkNanos = Math.min(parkNanos * 2, 1_000_000);
            } else {
                log.warn("{}: a delivery of MSI-X vector {} has not finished {} ms after the vector was masked; the mask "
                        + "completes without it (the interrupt sink is stuck)", deviceId, vector, TimeUnit.NANOSECONDS.toMillis(waited));
                return;
            }
        }
    }
}
