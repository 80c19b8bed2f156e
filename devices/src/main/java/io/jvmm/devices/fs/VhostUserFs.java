package io.jvmm.devices.fs;

import io.jvmm.virtio.vhost.GuestNotifiers;
import io.jvmm.virtio.vhost.frontend.VhostUserDevice;
import io.jvmm.virtio.vhost.frontend.VhostUserDeviceModel;
import io.jvmm.virtio.vhost.frontend.VhostUserDeviceOptions;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * vhost-user-fs-pci (virtio 1.x section 5.11): a virtio file-system device whose requests a
 * vhost-user back-end such as virtiofsd serves. The front-end keeps the configuration space
 * (tag, num_request_queues) itself, as QEMU does; queue 0 is the high-priority queue, queues
 * 1..N the request queues. Guest RAM is shared memory (memfd) in jvmm, as the back-end needs.
 */
public final class VhostUserFs {
    public static final int DEVICE_TYPE = 26;
    /** Mass storage, "other": what QEMU gives vhost-user-fs-pci. */
    public static final int PCI_CLASS = 0x018000;
    static final int CONFIG_SIZE = VhostUserFsOptions.TAG_BYTES + 4;

    private VhostUserFs() {
    }

    /**
     * Connects to the back-end and completes the vhost-user handshake (rule 6: no half-realised
     * device); throws with the back-end and the reason when it cannot.
     */
    public static VhostUserDevice realize(VhostUserFsOptions options, GuestNotifiers notifiers) {
        VhostUserDeviceModel model = new VhostUserDeviceModel(DEVICE_TYPE, "vhost-user-fs", PCI_CLASS,
                1 + options.requestQueues(), options.queueSize(), 0, config(options.tag(), options.requestQueues()), 0);
        VhostUserDeviceOptions vhost = VhostUserDeviceOptions.of(options.id(), options.chardev()).withSyncVring(options.syncVring());
        return VhostUserDevice.realize(vhost, model, notifiers);
    }

    /** struct virtio_fs_config: u8 tag[36] (NUL-padded, not terminated when full), le32 num_request_queues. */
    public static byte[] config(String tag, int requestQueues) {
        ByteBuffer b = ByteBuffer.allocate(CONFIG_SIZE).order(ByteOrder.LITTLE_ENDIAN);
        b.put(tag.getBytes(StandardCharsets.UTF_8));
        b.putInt(VhostUserFsOptions.TAG_BYTES, requestQueues);
        return b.array();
    }
}
