package io.jvmm.devices.p9.server;

import io.netty.buffer.ByteBuf;

import java.nio.charset.StandardCharsets;

/**
 * 9P2000.L on the wire (chaos/diod protocol.md): message numbers, sizes and the little-endian
 * encoding of strings and qids on Netty buffers. Every message is size[4] type[1] tag[2] body.
 */
public final class P9 {
    public static final String VERSION = "9P2000.L";
    public static final int HEADER = 7;
    /** Rread / Rreaddir: size[4] type[1] tag[2] count[4]. */
    public static final int IO_HEADER = 11;
    /** What a client must leave for headers in Twrite (Linux's P9_IOHDRSZ). */
    public static final int IOHDRSZ = 24;
    public static final int NOTAG = 0xffff;
    public static final int NOFID = 0xffffffff;
    public static final int MAX_WELEM = 16;
    public static final int MIN_MSIZE = 4096;

    public static final int TLERROR = 6, RLERROR = 7;
    public static final int TSTATFS = 8, TLOPEN = 12, TLCREATE = 14, TSYMLINK = 16, TMKNOD = 18, TRENAME = 20,
            TREADLINK = 22, TGETATTR = 24, TSETATTR = 26, TXATTRWALK = 30, TXATTRCREATE = 32, TREADDIR = 40,
            TFSYNC = 50, TLOCK = 52, TGETLOCK = 54, TLINK = 70, TMKDIR = 72, TRENAMEAT = 74, TUNLINKAT = 76,
            TVERSION = 100, TAUTH = 102, TATTACH = 104, TFLUSH = 108, TWALK = 110, TREAD = 116, TWRITE = 118,
            TCLUNK = 120, TREMOVE = 122;

    public static final int QTDIR = 0x80;
    public static final int QTSYMLINK = 0x02;
    public static final int QTFILE = 0;

    public static final long GETATTR_BASIC = 0x7ffL;

    public static final int SETATTR_MODE = 0x1, SETATTR_UID = 0x2, SETATTR_GID = 0x4, SETATTR_SIZE = 0x8,
            SETATTR_ATIME = 0x10, SETATTR_MTIME = 0x20, SETATTR_CTIME = 0x40, SETATTR_ATIME_SET = 0x80,
            SETATTR_MTIME_SET = 0x100;

    public static final int LOCK_TYPE_RDLCK = 0, LOCK_TYPE_WRLCK = 1, LOCK_TYPE_UNLCK = 2;
    public static final int LOCK_SUCCESS = 0, LOCK_BLOCKED = 1, LOCK_ERROR = 2;

    private P9() {
    }

    /** The message's name ("Twalk"), for logs and meters. */
    public static String name(int type) {
        switch (type) {
            case TLERROR: return "Tlerror";
            case RLERROR: return "Rlerror";
            case TSTATFS: return "Tstatfs";
            case TLOPEN: return "Tlopen";
            case TLCREATE: return "Tlcreate";
            case TSYMLINK: return "Tsymlink";
            case TMKNOD: return "Tmknod";
            case TRENAME: return "Trename";
            case TREADLINK: return "Treadlink";
            case TGETATTR: return "Tgetattr";
            case TSETATTR: return "Tsetattr";
            case TXATTRWALK: return "Txattrwalk";
            case TXATTRCREATE: return "Txattrcreate";
            case TREADDIR: return "Treaddir";
            case TFSYNC: return "Tfsync";
            case TLOCK: return "Tlock";
            case TGETLOCK: return "Tgetlock";
            case TLINK: return "Tlink";
            case TMKDIR: return "Tmkdir";
            case TRENAMEAT: return "Trenameat";
            case TUNLINKAT: return "Tunlinkat";
            case TVERSION: return "Tversion";
            case TAUTH: return "Tauth";
            case TATTACH: return "Tattach";
            case TFLUSH: return "Tflush";
            case TWALK: return "Twalk";
            case TREAD: return "Tread";
            case TWRITE: return "Twrite";
            case TCLUNK: return "Tclunk";
            case TREMOVE: return "Tremove";
            default:
                return (type & 1) == 0 ? "T" + type : "R" + type;
        }
    }

    /** Reads a 9P string (len[2] then UTF-8); throws EPROTO when it runs past the message. */
    public static String readString(ByteBuf in) {
        if (in.readableBytes() < 2) {
            throw new P9Error(Errno.EPROTO, "message ends inside a string length");
        }
        int len = in.readUnsignedShortLE();
        if (in.readableBytes() < len) {
            throw new P9Error(Errno.EPROTO, "string of " + len + " bytes runs past the message");
        }
        String s = in.toString(in.readerIndex(), len, StandardCharsets.UTF_8);
        in.skipBytes(len);
        return s;
    }

    public static void writeString(ByteBuf out, String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        if (b.length > 0xffff) {
            throw new P9Error(Errno.ENAMETOOLONG, "string of " + b.length + " bytes");
        }
        out.writeShortLE(b.length);
        out.writeBytes(b);
    }

    public static void writeQid(ByteBuf out, int type, int version, long path) {
        out.writeByte(type);
        out.writeIntLE(version);
        out.writeLongLE(path);
    }

    /** Starts a message: size is filled in by {@link #finish}. */
    public static ByteBuf begin(ByteBuf out, int type, int tag) {
        out.writeIntLE(0);
        out.writeByte(type);
        out.writeShortLE(tag);
        return out;
    }

    public static ByteBuf finish(ByteBuf out) {
        out.setIntLE(0, out.writerIndex());
        return out;
    }

    /** Checks that the message has at least n more bytes (fixed fields). */
    public static void need(ByteBuf in, int n) {
        if (in.readableBytes() < n) {
            throw new P9Error(Errno.EPROTO, "message too short: " + n + " more bytes expected, " + in.readableBytes() + " left");
        }
    }
}
