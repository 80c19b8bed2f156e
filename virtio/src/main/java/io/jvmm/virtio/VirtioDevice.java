package io.jvmm.virtio;

import java.util.concurrent.CompletableFuture;

/**
 * The contract between a device model and its transport (kvmtool's virtio_ops, Cloud
 * Hypervisor's VirtioDevice): the device says what it is and handles its queues; the transport
 * owns registers, status, feature negotiation, rings and interrupts.
 *
 * <p>Threads: {@link #activate}, {@link #queueNotified} and {@link #reset} run on the device's
 * event context (one thread), so a device needs no locking between them. Config-space accesses
 * come from vCPU threads.
 */
public interface VirtioDevice {
    /** The user's id for this device (the -device id or a generated one): named in every log line. */
    String id();

    /** virtio device type (2 = block, 4 = entropy, ...). */
    int deviceType();

    /** Human name of the type, e.g. "virtio-blk". */
    String typeName();

    /** 24-bit PCI class code (base class, subclass, programming interface). */
    int pciClassCode();

    /** Device-specific feature bits offered; the transport adds VERSION_1, indirect and event-idx. */
    long deviceFeatures();

    int queueCount();

    /** Largest queue size the device accepts (a power of two, at most 32768). */
    int maxQueueSize();

    /** Bytes of device-specific configuration space. */
    int configSize();

    /** Reads device config; little-endian; the transport bounds-checks offset and size. */
    int readConfig(int offset, int size);

    /** Writes device config (most fields are read-only: ignore those writes). */
    void writeConfig(int offset, int size, int value);

    /** The driver set DRIVER_OK: start serving the queues it enabled. */
    void activate(VirtioActivation activation);

    /** The driver notified {@code queue}. Guest mistakes surface as {@link VirtioFault}. */
    void queueNotified(int queue);

    /**
     * The driver reset the device: stop, let in-flight requests finish or cancel them (each
     * completed exactly once), forget the queues. The future completes when nothing touches
     * guest memory any more; only then does the status register read 0.
     */
    CompletableFuture<Void> reset();

    /** The machine is shutting down: release back-end resources. */
    default void close() {
    }
}
