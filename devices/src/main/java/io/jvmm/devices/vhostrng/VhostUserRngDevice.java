package io.jvmm.devices.vhostrng;

import io.jvmm.virtio.vhost.frontend.VhostUserDevice;
import io.jvmm.virtio.vhost.frontend.VhostUserDeviceModel;
import io.jvmm.virtio.vhost.frontend.VhostUserDeviceOptions;
import io.jvmm.virtio.vhost.frontend.VhostUserMetrics;

/**
 * vhost-user-rng-pci: the generic vhost-user front-end ({@link VhostUserDevice}) with the entropy
 * device type (virtio 1.x section 5.4, type 4), whose one queue a vhost-user back-end fills. It
 * mirrors QEMU's device of the same name (one queue of 4 entries, no device features, no
 * configuration space, class "other", two MSI-X vectors), so the same back-end can be tried
 * under QEMU and under jvmm, which is what the race lab does.
 */
public final class VhostUserRngDevice {
    public static final int DEVICE_TYPE = 4;
    /** PCI_CLASS_OTHERS, as QEMU gives vhost-user-rng-pci. */
    public static final int PCI_CLASS = 0xff0000;
    /** QEMU's vhost-user-rng queue size. */
    public static final int QUEUE_SIZE = 4;
    public static final VhostUserDeviceModel MODEL = new VhostUserDeviceModel(DEVICE_TYPE, "vhost-user-rng", PCI_CLASS, 1,
            QUEUE_SIZE, 0, null, 0);

    private VhostUserRngDevice() {
    }

    /**
     * Connects to the back-end and completes the vhost-user handshake (rule 6: no half-realised
     * device); throws with the back-end and the reason when it cannot.
     */
    public static VhostUserDevice realize(VhostUserRngOptions options, VhostUserMetrics metrics) {
        VhostUserDeviceOptions vhost = VhostUserDeviceOptions.of(options.id(), options.chardev()).withSyncVring(options.syncVring())
                .withReplyTimeout(options.replyTimeout());
        return VhostUserDevice.realize(vhost, MODEL, metrics);
    }

    /** As {@link #realize(VhostUserRngOptions, VhostUserMetrics)}, with meters nobody reads. */
    public static VhostUserDevice realize(VhostUserRngOptions options) {
        return realize(options, VhostUserMetrics.unregistered(options.id()));
    }
}
