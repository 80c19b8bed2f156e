package io.jvmm.virtio.queue;

import io.jvmm.virtio.VirtioFault;

/** A driver mistake found in a virtqueue's rings or descriptors. */
public final class VirtqueueFault extends VirtioFault {
    private static final long serialVersionUID = 1L;
    private final int queue;

    public VirtqueueFault(int queue, String message) {
        super("queue " + queue + ": " + message);
        this.queue = queue;
    }

    public VirtqueueFault(int queue, String message, Throwable cause) {
        super("queue " + queue + ": " + message, cause);
        this.queue = queue;
    }

    public int queue() {
        return queue;
    }
}
