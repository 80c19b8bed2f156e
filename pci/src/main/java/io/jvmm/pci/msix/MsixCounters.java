package io.jvmm.pci.msix;

import java.util.concurrent.atomic.LongAdder;

/**
 * What one device's MSI-X did, counted on the signal path without locks or allocation (a
 * {@link LongAdder} per count; contended adds spread over cells allocated once): signals by what
 * became of them, and messages handed to the machine's delivery. Read at any time, e.g. by meters
 * the platform registers ({@code jvmm.msix.*}).
 *
 * <p>Only what passes through {@link Msix#signal} is seen: a back-end in another process that
 * signals an unmasked vector's eventfd straight into KVM (an irqfd) or to a vfio-user client never
 * wakes this process, so it is not counted here; while the vector is masked its signals are.
 */
public final class MsixCounters {
    private final LongAdder delivered = new LongAdder();
    private final LongAdder pending = new LongAdder();
    private final LongAdder dropped = new LongAdder();
    private final LongAdder deliveries = new LongAdder();
    private final LongAdder pendingDeliveries = new LongAdder();

    MsixCounters() {
    }

    void signalled(SignalResult result) {
        switch (result) {
            case DELIVERED -> delivered.increment();
            case PENDING -> pending.increment();
            case DROPPED -> dropped.increment();
        }
    }

    void delivery(boolean fromPendingBit) {
        deliveries.increment();
        if (fromPendingBit) {
            pendingDeliveries.increment();
        }
    }

    /** Signals that found the vector unmasked and went to the machine's delivery at once. */
    public long signalsDelivered() {
        return delivered.sum();
    }

    /** Signals that found the vector (or the function) masked: the PBA bit was set, or already set. */
    public long signalsPending() {
        return pending.sum();
    }

    /** Signals while MSI-X was disabled, which the specification says are lost. */
    public long signalsDropped() {
        return dropped.sum();
    }

    /** Every signal, whatever became of it. */
    public long signals() {
        return signalsDelivered() + signalsPending() + signalsDropped();
    }

    /** Messages handed to the machine's delivery: signals delivered at once and pending bits delivered on unmask. */
    public long deliveries() {
        return deliveries.sum();
    }

    /** Pending bits delivered because their vector (or the function) was unmasked. */
    public long pendingDeliveries() {
        return pendingDeliveries.sum();
    }

    @Override
    public String toString() {
        return String.format("signals %d (delivered %d, pending %d, dropped %d), deliveries %d (%d from pending bits)",
                signals(), signalsDelivered(), signalsPending(), signalsDropped(), deliveries(), pendingDeliveries());
    }
}
