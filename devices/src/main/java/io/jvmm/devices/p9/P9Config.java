package io.jvmm.devices.p9;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/** struct virtio_9p_config (virtio 1.x 5.3.4): le16 tag_len, then tag_len bytes of tag (not NUL-terminated). */
final class P9Config {
    static final int MAX_TAG = 255;
    private final byte[] bytes;

    P9Config(String tag) {
        byte[] t = tag.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(2 + t.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putShort((short) t.length);
        b.put(t);
        bytes = b.array();
    }

    int size() {
        return bytes.length;
    }

    int read(int offset, int size) {
        int value = 0;
        for (int i = size - 1; i >= 0; i--) {
            int at = offset + i;
            value = (value << 8) | (at < bytes.length ? bytes[at] & 0xff : 0);
        }
        return value;
    }
}
