package io.jvmm.virtio.pci;

import io.jvmm.virtio.queue.SplitVirtqueue;

/** The driver-programmed registers of one queue, and the ring built from them once enabled. */
final class QueueRegisters {
    static final int NO_VECTOR = 0xffff;

    final int maxSize;
    int size;
    /** Written under the lifecycle's lock, read without it when the queue interrupts. */
    volatile int vector = NO_VECTOR;
    boolean enabled;
    long desc;
    long driver;
    long device;
    SplitVirtqueue ring;

    QueueRegisters(int maxSize) {
        this.maxSize = maxSize;
        this.size = maxSize;
    }

    void reset() {
        size = maxSize;
        vector = NO_VECTOR;
        enabled = false;
        desc = 0;
        driver = 0;
        device = 0;
        ring = null;
    }
}
