package io.jvmm.devices.fs;

import io.jvmm.chardev.SocketChardevSpec;
import io.jvmm.platform.registry.DeviceOptions;
import io.jvmm.virtio.vhost.frontend.VhostUserDeviceOptions;
import java.time.Duration;
import java.util.Objects;

/**
 * {@code -device vhost-user-fs-pci,chardev=ID,tag=TAG[,num-request-queues=N][,queue-size=M][,x-sync-vring=off]},
 * validated here (through the properties {@link VhostUserFsDeviceType} declares) however it was built.
 *
 * @param requestQueues request queues besides the high-priority one (QEMU's num-request-queues)
 * @param queueSize     the size of every queue (QEMU's default is 128)
 * @param syncVring     rule 1: SET_VRING_* acknowledged before the guest's write completes;
 *                      false restores the historic fire-and-forget behaviour (experiments only)
 * @param replyTimeout  how long the back-end may take to answer; past it the device is broken
 *                      (it must stay below the machine's write bound, which the build checks)
 */
public record VhostUserFsOptions(String id, SocketChardevSpec chardev, String tag, int requestQueues, int queueSize,
                                 boolean syncVring, Duration replyTimeout) implements DeviceOptions {
    public static final int DEFAULT_QUEUE_SIZE = 128;

    /** With the default reply timeout. */
    public VhostUserFsOptions(String id, SocketChardevSpec chardev, String tag, int requestQueues, int queueSize, boolean syncVring) {
        this(id, chardev, tag, requestQueues, queueSize, syncVring, VhostUserDeviceOptions.DEFAULT_REPLY_TIMEOUT);
    }

    public VhostUserFsOptions {
        Objects.requireNonNull(id, "id");
        String owner = VhostUserFsDeviceType.DRIVER + " '" + id + "'";
        Objects.requireNonNull(chardev, () -> owner + ": chardev");
        VhostUserFsDeviceType.TAG.check(owner, tag);
        VhostUserFsDeviceType.REQUEST_QUEUES.check(owner, requestQueues);
        VhostUserFsDeviceType.QUEUE_SIZE.check(owner, queueSize);
        Objects.requireNonNull(replyTimeout, () -> owner + ": replyTimeout");
        VhostUserFsDeviceType.REPLY_TIMEOUT.check(owner, replyTimeout.toMillis());
    }
}
