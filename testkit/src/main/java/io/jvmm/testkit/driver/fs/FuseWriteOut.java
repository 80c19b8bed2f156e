package io.jvmm.testkit.driver.fs;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/** struct fuse_write_out (8 bytes): how many bytes a WRITE stored. */
public record FuseWriteOut(int size) {
    public static final int BYTES = 8;

    /** @throws FuseProtocolException unless the body is exactly 8 bytes */
    public static FuseWriteOut decode(byte[] body) {
        ByteBuffer b = FuseBody.exact(body, BYTES, "fuse_write_out");
        return new FuseWriteOut(b.getInt());
    }

    public byte[] encode() {
        return ByteBuffer.allocate(BYTES).order(ByteOrder.LITTLE_ENDIAN).putInt(size).putInt(0).array();
    }
}
