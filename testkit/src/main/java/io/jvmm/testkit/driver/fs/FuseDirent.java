package io.jvmm.testkit.driver.fs;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * One struct fuse_dirent of a READDIR reply: 24 bytes of ino, off (the offset to continue
 * from), namelen and type, then the name, the record padded to 8 bytes.
 *
 * @param type the DT_* type (DT_DIR 4, DT_REG 8, ...)
 */
public record FuseDirent(long ino, long off, int type, String name) {
    public static final int HEADER_BYTES = 24;
    /** FUSE_NAME_MAX: Linux refuses longer names in a dirent. */
    public static final int NAME_MAX = 1024;
    public static final int DT_DIR = 4;
    public static final int DT_REG = 8;

    /**
     * Every record of a READDIR body, in order.
     *
     * @throws FuseProtocolException naming the offset of a truncated record, a name of length 0
     *     or beyond {@link #NAME_MAX}
     */
    public static List<FuseDirent> decodeAll(byte[] body) {
        ByteBuffer b = ByteBuffer.wrap(body).order(ByteOrder.LITTLE_ENDIAN);
        List<FuseDirent> out = new ArrayList<>();
        while (b.hasRemaining()) {
            int at = b.position();
            if (b.remaining() < HEADER_BYTES) {
                throw new FuseProtocolException(String.format("READDIR reply: %d bytes left at offset %d, too few for a %d-byte fuse_dirent",
                        b.remaining(), at, HEADER_BYTES));
            }
            long ino = b.getLong();
            long off = b.getLong();
            long nameLen = Integer.toUnsignedLong(b.getInt());
            int type = b.getInt();
            if (nameLen == 0 || nameLen > NAME_MAX) {
                throw new FuseProtocolException(String.format("READDIR reply: dirent at offset %d has namelen %d (1..%d allowed)",
                        at, nameLen, NAME_MAX));
            }
            int record = recordBytes((int) nameLen);
            if (record > body.length - at) {
                throw new FuseProtocolException(String.format("READDIR reply: dirent at offset %d needs %d bytes, only %d left",
                        at, record, body.length - at));
            }
            byte[] name = new byte[(int) nameLen];
            b.get(name);
            b.position(at + record);
            out.add(new FuseDirent(ino, off, type, new String(name, StandardCharsets.UTF_8)));
        }
        return out;
    }

    /** FUSE_DIRENT_SIZE: header plus name, rounded up to 8 bytes. */
    public static int recordBytes(int nameLen) {
        return (HEADER_BYTES + nameLen + 7) & ~7;
    }

    /** The padded record (as a server writes it; tests build canned replies with it). */
    public byte[] encode() {
        byte[] n = name.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(recordBytes(n.length)).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(ino).putLong(off).putInt(n.length).putInt(type).put(n);
        return b.array();
    }
}
