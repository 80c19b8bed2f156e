package io.jvmm.pci.msix;

/** Where delivered MSIs go: the interrupt controller (KVM) or a recorder. Thread-safe; called from any thread. */
@FunctionalInterface
public interface InterruptSink {

    void deliver(MsiMessage message);

    /**
     * Delivery that names the device's vector, for sinks that keep per-vector routes (KVM irqfds).
     * MSI-X always calls this one; by default it forgets the vector.
     */
    default void deliver(Msix source, int vector, MsiMessage message) {
        deliver(message);
    }
}
