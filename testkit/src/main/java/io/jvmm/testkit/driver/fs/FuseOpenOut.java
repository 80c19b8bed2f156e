package io.jvmm.testkit.driver.fs;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/** struct fuse_open_out (16 bytes): the reply to OPEN and OPENDIR (and the second part of CREATE's). */
public record FuseOpenOut(long fh, int openFlags) {
    public static final int BYTES = 16;

    /** @throws FuseProtocolException unless the body is exactly 16 bytes */
    public static FuseOpenOut decode(byte[] body) {
        return read(FuseBody.exact(body, BYTES, "fuse_open_out"));
    }

    static FuseOpenOut read(ByteBuffer b) {
        long fh = b.getLong();
        int flags = b.getInt();
        b.getInt();   // padding
        return new FuseOpenOut(fh, flags);
    }

    public byte[] encode() {
        return ByteBuffer.allocate(BYTES).order(ByteOrder.LITTLE_ENDIAN).putLong(fh).putInt(openFlags).putInt(0).array();
    }
}
