package io.jvmm.virtio.vhost;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The 12-byte header of every vhost-user message: request (u32), flags (u32: version in bits
 * 0-1, REPLY bit 2, NEED_REPLY bit 3) and payload size (u32), in the host's (little-endian)
 * byte order.
 */
public record VhostUserHeader(int request, int flags, int size) {
    public static final int SIZE = 12;
    public static final int VERSION = 0x1;
    public static final int VERSION_MASK = 0x3;
    public static final int REPLY = 0x4;
    public static final int NEED_REPLY = 0x8;
    /** Flag bits the specification defines; any other bit marks a malformed message. */
    public static final int KNOWN_FLAGS = VERSION_MASK | REPLY | NEED_REPLY;
    /**
     * Largest payload accepted. The biggest message jvmm understands is a config access (12 +
     * 256 bytes); a bigger size means a corrupt or hostile stream, not a big message.
     */
    public static final int MAX_PAYLOAD = 4096;

    public int version() {
        return flags & VERSION_MASK;
    }

    public boolean isReply() {
        return (flags & REPLY) != 0;
    }

    public boolean needsReply() {
        return (flags & NEED_REPLY) != 0;
    }

    /** Writes the 12 bytes at dst's position (dst must be little-endian). */
    public void encode(ByteBuffer dst) {
        dst.putInt(request).putInt(flags).putInt(size);
    }

    /**
     * Reads and checks 12 bytes: version 1, no unknown flag bits, a size of at most
     * {@link #MAX_PAYLOAD}.
     *
     * @param from names the peer in the error
     * @throws VhostUserProtocolException for a header that cannot start a valid message
     */
    public static VhostUserHeader decode(ByteBuffer src, String from) {
        ByteBuffer b = src.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        if (b.remaining() < SIZE) {
            throw new VhostUserProtocolException(from + ": header of " + b.remaining() + " bytes, need " + SIZE);
        }
        int request = b.getInt();
        int flags = b.getInt();
        int size = b.getInt();
        String what = VhostUserRequest.describe(request);
        if ((flags & VERSION_MASK) != VERSION) {
            throw new VhostUserProtocolException(String.format("%s: %s with protocol version %d (flags 0x%x); only version %d exists",
                    from, what, flags & VERSION_MASK, flags, VERSION));
        }
        if ((flags & ~KNOWN_FLAGS) != 0) {
            throw new VhostUserProtocolException(String.format("%s: %s with unknown flag bits 0x%x", from, what, flags & ~KNOWN_FLAGS));
        }
        if (size < 0 || size > MAX_PAYLOAD) {
            throw new VhostUserProtocolException(String.format("%s: %s announces a payload of %d bytes (at most %d accepted)",
                    from, what, Integer.toUnsignedLong(size), MAX_PAYLOAD));
        }
        return new VhostUserHeader(request, flags, size);
    }

    @Override
    public String toString() {
        return String.format("%s flags 0x%x size %d", VhostUserRequest.describe(request), flags, size);
    }
}
