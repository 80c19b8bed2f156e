package io.jvmm.virtio;

import io.jvmm.chardev.EventContext;
import io.jvmm.chardev.EventFd;
import io.jvmm.pci.dispatch.IoCompletion;
import io.jvmm.pci.mem.GuestMemory;
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
    /** What the device is (id, type, name, PCI class). */
    VirtioIdentity identity();

    /** The user's id for this device: named in every log line. */
    default String id() {
        return identity().id();
    }

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

    /**
     * The driver set DRIVER_OK: start serving the queues it enabled. On the device's event
     * context. The driver's status write completes with the returned completion: an in-process
     * device returns {@link IoCompletion#DONE}; one whose back-end must first acknowledge the
     * rings' set-up (vhost-user, rule 1) returns that acknowledgement.
     */
    CompletableFuture<Void> activate(VirtioActivation activation);

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

    // ---- hooks for devices whose queues are served elsewhere (vhost-user) --------------------
    // The defaults keep in-process devices as they are. Hooks called on a vCPU thread run with
    // the transport's lock held: they must not block, and hand back a completion instead, which
    // the guest's write waits for (rule 1).

    /**
     * How long the device's context busy-polls the queues it serves before it sleeps, in
     * nanoseconds (see {@code EventContext#setPollMaxNs}); 0, the default, never polls.
     */
    default long pollMaxNs() {
        return 0;
    }

    /**
     * An eventfd that stands for guest notifications of {@code queue} outside the VMM (a vhost-user
     * back-end's kick fd), or null. The transport makes it the queue's notify register's I/O event,
     * so under KVM the guest's kick reaches the back-end without passing through Java.
     */
    default EventFd notificationEventFd(int queue) {
        return null;
    }

    /** Transport-level feature bits the device can honour; the transport offers these plus {@link #deviceFeatures()}. */
    default long transportFeatures() {
        return VirtioFeatures.TRANSPORT_OFFERED;
    }

    /**
     * Called once by the transport's constructor, before the guest can reach the device, with
     * what a device needs beyond its queues.
     */
    default void attached(Transport transport) {
    }

    /**
     * The driver wrote 1 to queue_enable; the ring addresses were checked to lie in guest memory.
     * On the vCPU thread, under the transport lock.
     */
    default CompletableFuture<Void> queueEnabled(QueueConfig queue) {
        return IoCompletion.DONE;
    }

    /** The driver changed the MSI-X vector of an enabled queue. On the vCPU thread, under the transport lock. */
    default CompletableFuture<Void> queueVectorChanged(int queue, int vector) {
        return IoCompletion.DONE;
    }

    /**
     * Why a driver cannot start the device now (its back-end is gone), or null: the transport
     * then refuses FEATURES_OK, so a new driver fails its probe cleanly instead of finding a
     * device that accepts requests nobody will serve.
     */
    default String unavailableReason() {
        return null;
    }

    /** The guest memory map changed while the device may be running (see {@link io.jvmm.pci.PciDevice#guestMemoryChanged}). */
    default void guestMemoryChanged(String what) {
    }

    /** What the transport gives a device at {@link #attached}. */
    interface Transport {
        /** The device's interrupts. */
        VirtioInterrupts interrupts();

        /** Guest memory (shared with back-ends in other processes). */
        GuestMemory memory();

        /** The device's event context. */
        EventContext context();

        /** Marks the device broken (DEVICE_NEEDS_RESET plus the configuration interrupt); any thread, no lock held. */
        void fail(VirtioFault fault);
    }

    /**
     * A queue as the driver programmed it: guest-physical ring addresses and the MSI-X vector
     * (0xffff for none).
     */
    record QueueConfig(int index, int size, long desc, long avail, long used, int vector) {
    }
}
