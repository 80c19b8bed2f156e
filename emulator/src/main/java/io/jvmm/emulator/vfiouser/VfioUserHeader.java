package io.jvmm.emulator.vfiouser;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The 16-byte header in front of every vfio-user message: message id, command, total size
 * (header included), flags (type in bits 0-3, NO_REPLY, ERROR) and an errno for error replies.
 * All fields are in the host's byte order, which the protocol prescribes (little-endian here).
 */
public record VfioUserHeader(int id, int command, long size, int flags, int error) {
    public static final int SIZE = 16;
    public static final int TYPE_MASK = 0xf;
    public static final int TYPE_COMMAND = 0;
    public static final int TYPE_REPLY = 1;
    public static final int FLAG_NO_REPLY = 1 << 4;
    public static final int FLAG_ERROR = 1 << 5;

    /** Decodes the header at dst's position (absolute reads; the buffer is not moved). */
    public static VfioUserHeader decode(ByteBuffer buffer) {
        ByteBuffer b = buffer.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        int p = b.position();
        return new VfioUserHeader(Short.toUnsignedInt(b.getShort(p)), Short.toUnsignedInt(b.getShort(p + 2)),
                Integer.toUnsignedLong(b.getInt(p + 4)), b.getInt(p + 8), b.getInt(p + 12));
    }

    /** A command header. */
    public static VfioUserHeader command(int id, VfioUserCommand command, long size, boolean noReply) {
        return new VfioUserHeader(id, command.code(), size, TYPE_COMMAND | (noReply ? FLAG_NO_REPLY : 0), 0);
    }

    /** The reply header for this command, for a reply of {@code size} bytes in all. */
    public VfioUserHeader reply(long replySize) {
        return new VfioUserHeader(id, command, replySize, TYPE_REPLY, 0);
    }

    /** The error reply header for this command: header only, ERROR flag and errno set. */
    public VfioUserHeader errorReply(int errno) {
        return new VfioUserHeader(id, command, SIZE, TYPE_REPLY | FLAG_ERROR, errno);
    }

    public int type() {
        return flags & TYPE_MASK;
    }

    public boolean isReply() {
        return type() == TYPE_REPLY;
    }

    public boolean noReply() {
        return (flags & FLAG_NO_REPLY) != 0;
    }

    public boolean isError() {
        return (flags & FLAG_ERROR) != 0;
    }

    /** Bytes after the header that the size field announces (0 if the size is too small to be valid). */
    public long payloadSize() {
        return Math.max(0, size - SIZE);
    }

    /** Writes the header at buffer's position and advances it. */
    public void encode(ByteBuffer buffer) {
        ByteOrder order = buffer.order();
        buffer.order(ByteOrder.LITTLE_ENDIAN);
        buffer.putShort((short) id).putShort((short) command).putInt((int) size).putInt(flags).putInt(error);
        buffer.order(order);
    }

    @Override
    public String toString() {
        return String.format("#%d %s size %d%s%s%s", id, VfioUserCommand.describe(command), size,
                isReply() ? " reply" : "", noReply() ? " no-reply" : "", isError() ? " error " + error : "");
    }
}
