package io.jvmm.pci.msix;

/** Where delivered MSIs go: the interrupt controller (KVM) or a recorder. Thread-safe; called from any thread. */
@FunctionalInterface
public interface InterruptSink {

    void deliver(MsiMessage message);
}
