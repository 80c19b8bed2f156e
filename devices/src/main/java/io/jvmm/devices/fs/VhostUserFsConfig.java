package io.jvmm.devices.fs;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * struct virtio_fs_config (virtio 1.x 5.11.4): u8 tag[36], NUL-padded and not terminated when
 * full, then le32 num_request_queues. The front-end keeps it, as QEMU does.
 */
public final class VhostUserFsConfig {
    public static final int TAG_BYTES = 36;
    public static final int SIZE = TAG_BYTES + 4;

    private VhostUserFsConfig() {
    }

    public static byte[] bytes(String tag, int requestQueues) {
        ByteBuffer b = ByteBuffer.allocate(SIZE).order(ByteOrder.LITTLE_ENDIAN);
        b.put(tag.getBytes(StandardCharsets.UTF_8));
        b.putInt(TAG_BYTES, requestQueues);
        return b.array();
    }
}
