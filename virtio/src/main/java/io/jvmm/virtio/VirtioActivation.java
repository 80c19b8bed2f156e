package io.jvmm.virtio;

import io.jvmm.chardev.EventContext;
import io.jvmm.virtio.queue.SplitVirtqueue;

/** What the transport hands a device at DRIVER_OK, valid until the next reset. */
public interface VirtioActivation {
    /** The features the driver accepted. */
    long features();

    /** The queue at {@code index}, or null if the driver did not enable it. */
    SplitVirtqueue queue(int index);

    /** The device's event context: all queue work runs here. */
    EventContext context();

    /** Device config changed: bump the generation and raise the configuration interrupt. */
    void configChanged();

    /** A guest mistake found outside {@link VirtioDevice#queueNotified}: mark the device broken. */
    void fail(VirtioFault fault);
}
