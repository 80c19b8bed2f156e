package io.jvmm.virtio;

import io.jvmm.chardev.EventFd;
import io.jvmm.pci.msix.MsixVectorObserver;

/**
 * A device's interrupts as its transport gives them (Cloud Hypervisor's VirtioInterrupt): raise a
 * vector or the configuration interrupt, hand out the eventfd an out-of-process back-end signals,
 * and observe masking. Queue interrupts of in-process devices go through their
 * {@link io.jvmm.virtio.queue.SplitVirtqueue}, which knows the queue's vector.
 */
public interface VirtioInterrupts {
    /** MSI-X vectors of the device (0 with no MSI-X). */
    int vectorCount();

    /** Whether {@code vector} is masked now (per vector or by the function mask). */
    boolean isMasked(int vector);

    /**
     * Raises a queue vector; while it is masked this sets its pending bit, delivered on unmask (rule 2);
     * while MSI-X is disabled it sets the queue bit of the ISR (virtio 1.x 4.1.5.3).
     */
    void signal(int vector);

    /** The configuration changed: raise the configuration interrupt. */
    void signalConfig();

    /**
     * The eventfd whose signal raises {@code vector}, for a back-end in another process (the irqfd
     * itself under KVM). The same fd for as long as the machine lives.
     */
    EventFd notifier(int vector);

    /** Observes mask changes; completions the observer returns hold the guest's mask write (rule 1). */
    void addMaskObserver(MsixVectorObserver observer);
}
