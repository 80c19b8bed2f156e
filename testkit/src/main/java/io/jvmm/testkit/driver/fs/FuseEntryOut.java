package io.jvmm.testkit.driver.fs;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * struct fuse_entry_out (128 bytes): the reply to LOOKUP, MKDIR (and the first part of CREATE's).
 * Each one counts as a lookup of {@code nodeId} that the client later returns with FORGET.
 */
public record FuseEntryOut(long nodeId, long generation, long entryValid, long attrValid,
                           int entryValidNsec, int attrValidNsec, FuseAttr attr) {
    public static final int BYTES = 128;

    /** @throws FuseProtocolException unless the body is exactly 128 bytes */
    public static FuseEntryOut decode(byte[] body) {
        return read(FuseBody.exact(body, BYTES, "fuse_entry_out"));
    }

    static FuseEntryOut read(ByteBuffer b) {
        return new FuseEntryOut(b.getLong(), b.getLong(), b.getLong(), b.getLong(), b.getInt(), b.getInt(), FuseAttr.read(b));
    }

    public byte[] encode() {
        ByteBuffer b = ByteBuffer.allocate(BYTES).order(ByteOrder.LITTLE_ENDIAN);
        write(b);
        return b.array();
    }

    void write(ByteBuffer b) {
        b.putLong(nodeId).putLong(generation).putLong(entryValid).putLong(attrValid).putInt(entryValidNsec).putInt(attrValidNsec);
        attr.write(b);
    }
}
