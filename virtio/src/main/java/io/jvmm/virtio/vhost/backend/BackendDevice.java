package io.jvmm.virtio.vhost.backend;

import io.jvmm.virtio.queue.SplitVirtqueue;

/**
 * The device logic a {@link VhostUserBackend} serves: its features, queues, configuration
 * space, and what it does with the buffers of a ring. Runs on the back-end's data-plane
 * context (one thread), so it needs no locking of its own for {@link #process}.
 */
public interface BackendDevice {
    /** Name for logs ("filling device"). */
    String name();

    /** virtio feature bits offered (VERSION_1 and the ring features the device handles). */
    long features();

    int queueCount();

    /** The current configuration space (a copy; may be empty). */
    byte[] config();

    /**
     * A SET_CONFIG of [offset, offset+data.length). Return false to refuse it (read-only or out
     * of range).
     */
    default boolean writeConfig(int offset, byte[] data) {
        return false;
    }

    /**
     * Serves the available buffers of an enabled ring after a kick. Take chains, push them back,
     * call {@link SplitVirtqueue#notifyGuest()}; a guest mistake throws
     * {@link io.jvmm.virtio.queue.VirtqueueFault}.
     */
    void process(int queue, SplitVirtqueue ring);

    /** The front-end reset the device (RESET_DEVICE/RESET_OWNER): forget per-session state. */
    default void reset() {
    }
}
