package io.jvmm.pci.msix;

import java.util.concurrent.atomic.AtomicIntegerArray;

/**
 * The lock-free heart of MSI-X masking: one atomic state word per vector holding everything a
 * signal depends on (vector mask, a copy of the function mask, MSI-X disabled, pending), so that
 * a signal and a mask change racing on another thread are ordered by one CAS and no signal is
 * lost (rule 2): a signal either sees the vector deliverable and delivers, or sets PENDING while
 * it is blocked; PENDING is only cleared by the same CAS that unblocks the vector, whose caller
 * then delivers.
 */
final class VectorStates {

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

    VectorStates(int vectors, int initial) {
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
     */
    private void awaitDeliveries(int vector) {
        while ((words.get(vector) & DELIVERING) != 0) {
            Thread.onSpinWait();
        }
    }
}
