package io.jvmm.virtio.vhost;

import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * VhostUserConfig, the GET_CONFIG/SET_CONFIG payload: a window [offset, offset+size) of the
 * virtio device's configuration space and its bytes. A GET_CONFIG reply whose payload carries
 * no window at all (size 0) is the back-end's way of saying it failed.
 */
public record DeviceConfig(int offset, int flags, byte[] data) {
    public static final int HEADER_SIZE = 12;
    /** VHOST_USER_MAX_CONFIG_SIZE. */
    public static final int MAX_SIZE = 256;
    /** flags: the access is part of a live migration (may write read-only fields). */
    public static final int F_MIGRATION = 1;

    public DeviceConfig {
        data = data.clone();
        if (offset < 0 || data.length > MAX_SIZE || offset + data.length > MAX_SIZE) {
            throw new IllegalArgumentException("config window at " + offset + " of " + data.length
                    + " bytes is outside the " + MAX_SIZE + "-byte vhost-user config space");
        }
    }

    @Override
    public byte[] data() {
        return data.clone();
    }

    public int size() {
        return data.length;
    }

    public byte[] encode() {
        ByteBuffer b = Payloads.allocate(HEADER_SIZE + data.length);
        b.putInt(offset).putInt(data.length).putInt(flags).put(data);
        return b.array();
    }

    /** Decodes and checks that the size field matches the bytes present and the window fits. */
    public static DeviceConfig decode(VhostUserMessage m, String from) {
        ByteBuffer b = Payloads.check(m, PayloadKind.CONFIG, from);
        int offset = b.getInt();
        int size = b.getInt();
        int flags = b.getInt();
        if (size != b.remaining()) {
            throw new VhostUserProtocolException(String.format("%s: %s says %d config bytes but carries %d",
                    from, m.name(), Integer.toUnsignedLong(size), b.remaining()));
        }
        if (offset < 0 || offset + size > MAX_SIZE) {
            throw new VhostUserProtocolException(String.format("%s: %s window [%d, +%d) is outside the %d-byte config space",
                    from, m.name(), Integer.toUnsignedLong(offset), size, MAX_SIZE));
        }
        byte[] data = new byte[size];
        b.get(data);
        return new DeviceConfig(offset, flags, data);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof DeviceConfig c && c.offset == offset && c.flags == flags && Arrays.equals(c.data, data);
    }

    @Override
    public int hashCode() {
        return 31 * (31 * offset + flags) + Arrays.hashCode(data);
    }

    @Override
    public String toString() {
        return "DeviceConfig[offset " + offset + ", " + data.length + " bytes, flags " + flags + "]";
    }
}
