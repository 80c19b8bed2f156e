package io.jvmm.testkit.driver.fs;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * struct fuse_out_header (16 bytes, little-endian): the start of every reply.
 *
 * @param len    the whole reply: header plus body
 * @param error  0, or a negated errno
 * @param unique the request this answers
 */
public record FuseOutHeader(int len, int error, long unique) {
    public static final int BYTES = 16;

    /**
     * Reads a header from the first 16 bytes of {@code bytes}.
     *
     * @throws FuseProtocolException if fewer than 16 bytes are given
     */
    public static FuseOutHeader decode(byte[] bytes) {
        if (bytes.length < BYTES) {
            throw new FuseProtocolException("fuse_out_header needs " + BYTES + " bytes, got " + bytes.length);
        }
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        return new FuseOutHeader(b.getInt(), b.getInt(), b.getLong());
    }

    /** The header as a server writes it (tests build canned replies with it). */
    public byte[] encode() {
        return ByteBuffer.allocate(BYTES).order(ByteOrder.LITTLE_ENDIAN).putInt(len).putInt(error).putLong(unique).array();
    }
}
