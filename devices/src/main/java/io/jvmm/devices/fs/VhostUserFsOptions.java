package io.jvmm.devices.fs;

import io.jvmm.chardev.SocketChardevSpec;

import java.nio.charset.StandardCharsets;

/**
 * {@code -device vhost-user-fs-pci,chardev=ID,tag=TAG[,num-request-queues=N][,queue-size=M][,x-sync-vring=off]}.
 *
 * @param requestQueues request queues besides the high-priority one (QEMU's num-request-queues)
 * @param queueSize     the size of every queue (QEMU's default is 128)
 * @param syncVring     rule 1: SET_VRING_* acknowledged before the guest's write completes;
 *                      false restores the historic fire-and-forget behaviour (experiments only)
 */
public record VhostUserFsOptions(String id, SocketChardevSpec chardev, String tag, int requestQueues, int queueSize,
                                 boolean syncVring) {
    public static final int TAG_BYTES = 36;
    public static final int DEFAULT_QUEUE_SIZE = 128;

    public VhostUserFsOptions {
        if (tag == null || tag.isEmpty()) {
            throw new IllegalArgumentException("vhost-user-fs-pci " + id + ": tag= is required (the name the guest mounts)");
        }
        if (tag.getBytes(StandardCharsets.UTF_8).length > TAG_BYTES) {
            throw new IllegalArgumentException("vhost-user-fs-pci " + id + ": tag '" + tag + "' is longer than " + TAG_BYTES + " bytes");
        }
        if (requestQueues < 1 || requestQueues > 255) {
            throw new IllegalArgumentException("vhost-user-fs-pci " + id + ": num-request-queues " + requestQueues + " must be 1 to 255");
        }
        if (queueSize < 2 || queueSize > 32768 || Integer.bitCount(queueSize) != 1) {
            throw new IllegalArgumentException("vhost-user-fs-pci " + id + ": queue-size " + queueSize + " must be a power of two from 2 to 32768");
        }
    }
}
