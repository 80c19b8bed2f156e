package io.jvmm.testkit.driver.fs;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * struct fuse_init_out: the server's answer to INIT. Its size grew with the protocol (8 bytes
 * before 7.5, 24 before 7.23, 64 since), so any size from 8 to 64 is accepted and the fields it
 * does not reach read as 0.
 *
 * @param flags  the FUSE_* capability flags; with FUSE_INIT_EXT, flags2 shifted into the upper 32 bits
 */
public record FuseInitOut(int major, int minor, int maxReadahead, long flags, int maxBackground, int congestionThreshold,
                          int maxWrite, int timeGran, int maxPages, int mapAlignment) {
    public static final int BYTES = 64;
    public static final int MIN_BYTES = 8;

    /** @throws FuseProtocolException if the body is shorter than 8 or longer than 64 bytes */
    public static FuseInitOut decode(byte[] body) {
        if (body.length < MIN_BYTES || body.length > BYTES) {
            throw new FuseProtocolException(String.format("fuse_init_out: reply body of %d bytes, expected %d to %d",
                    body.length, MIN_BYTES, BYTES));
        }
        ByteBuffer b = ByteBuffer.allocate(BYTES).order(ByteOrder.LITTLE_ENDIAN).put(body).rewind();   // zero beyond the body
        int major = b.getInt();
        int minor = b.getInt();
        int readahead = b.getInt();
        long flags = Integer.toUnsignedLong(b.getInt());
        int background = Short.toUnsignedInt(b.getShort());
        int congestion = Short.toUnsignedInt(b.getShort());
        int maxWrite = b.getInt();
        int timeGran = b.getInt();
        int maxPages = Short.toUnsignedInt(b.getShort());
        int mapAlignment = Short.toUnsignedInt(b.getShort());
        long flags2 = Integer.toUnsignedLong(b.getInt());
        if ((flags & FuseInitFlags.INIT_EXT) != 0) {
            flags |= flags2 << 32;
        }
        return new FuseInitOut(major, minor, readahead, flags, background, congestion, maxWrite, timeGran, maxPages, mapAlignment);
    }

    /** The 64-byte struct (as a server would send it; tests build canned replies with it). */
    public byte[] encode() {
        ByteBuffer b = ByteBuffer.allocate(BYTES).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(major).putInt(minor).putInt(maxReadahead).putInt((int) flags)
                .putShort((short) maxBackground).putShort((short) congestionThreshold).putInt(maxWrite).putInt(timeGran)
                .putShort((short) maxPages).putShort((short) mapAlignment).putInt((int) (flags >>> 32));
        return b.array();
    }
}
