package io.jvmm.devices.fs;

import io.jvmm.virtio.vhost.frontend.VhostUserDevice;
import io.jvmm.virtio.vhost.frontend.VhostUserDeviceModel;
import io.jvmm.virtio.vhost.frontend.VhostUserDeviceOptions;
import io.jvmm.virtio.vhost.frontend.VhostUserMetrics;

/**
 * vhost-user-fs-pci (virtio 1.x section 5.11): a virtio file-system device whose requests a
 * vhost-user back-end such as virtiofsd serves, through the generic {@link VhostUserDevice}. The
 * front-end keeps the configuration space ({@link VhostUserFsConfig}); queue 0 is the
 * high-priority queue, queues 1..N the request queues. Guest RAM is shared memory (memfd) in jvmm,
 * as the back-end needs. Requests a dead back-end left in flight are answered with
 * {@link FuseErrorReply} (-ENOTCONN), so the guest's processes get an error and the mount fails
 * cleanly instead of hanging.
 */
public final class VhostUserFsDevice {
    public static final int DEVICE_TYPE = 26;
    /** Mass storage, "other": what QEMU gives vhost-user-fs-pci. */
    public static final int PCI_CLASS = 0x018000;

    private VhostUserFsDevice() {
    }

    /**
     * Connects to the back-end and completes the vhost-user handshake (rule 6: no half-realised
     * device); throws with the back-end and the reason when it cannot.
     */
    public static VhostUserDevice realize(VhostUserFsOptions options, VhostUserMetrics metrics) {
        VhostUserDeviceModel model = new VhostUserDeviceModel(DEVICE_TYPE, "vhost-user-fs", PCI_CLASS,
                1 + options.requestQueues(), options.queueSize(), 0,
                VhostUserFsConfig.bytes(options.tag(), options.requestQueues()), 0, FuseErrorReply.ENOTCONN_REPLY);
        VhostUserDeviceOptions vhost = VhostUserDeviceOptions.of(options.id(), options.chardev()).withSyncVring(options.syncVring())
                .withReplyTimeout(options.replyTimeout());
        return VhostUserDevice.realize(vhost, model, metrics);
    }

    /** As {@link #realize(VhostUserFsOptions, VhostUserMetrics)}, with meters nobody reads. */
    public static VhostUserDevice realize(VhostUserFsOptions options) {
        return realize(options, VhostUserMetrics.unregistered(options.id()));
    }
}
