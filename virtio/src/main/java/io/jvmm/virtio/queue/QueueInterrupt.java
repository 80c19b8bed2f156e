package io.jvmm.virtio.queue;

/** How a virtqueue raises its used-buffer interrupt (the transport maps it to an MSI-X vector). */
@FunctionalInterface
public interface QueueInterrupt {
    void raise();
}
