package io.jvmm.testkit.driver.fs;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * struct fuse_in_header (40 bytes, little-endian): the start of every request.
 *
 * @param len    the whole request: header plus arguments
 * @param unique the request's id, echoed by the reply
 * @param nodeId the inode the request is about (the parent for LOOKUP, CREATE, MKDIR, UNLINK)
 */
public record FuseInHeader(int len, int opcode, long unique, long nodeId, int uid, int gid, int pid) {
    public static final int BYTES = 40;

    public byte[] encode() {
        ByteBuffer b = ByteBuffer.allocate(BYTES).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(len).putInt(opcode).putLong(unique).putLong(nodeId).putInt(uid).putInt(gid).putInt(pid);
        b.putShort((short) 0);   // total_extlen: this client sends no extensions
        b.putShort((short) 0);   // padding
        return b.array();
    }

    /**
     * Reads a header from the first 40 bytes of {@code bytes} (as a server would).
     *
     * @throws FuseProtocolException if fewer than 40 bytes are given
     */
    public static FuseInHeader decode(byte[] bytes) {
        if (bytes.length < BYTES) {
            throw new FuseProtocolException("fuse_in_header needs " + BYTES + " bytes, got " + bytes.length);
        }
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        return new FuseInHeader(b.getInt(), b.getInt(), b.getLong(), b.getLong(), b.getInt(), b.getInt(), b.getInt());
    }
}
