package io.jvmm.testkit.driver.p9;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * The client's side of 9P2000.L (chaos/diod protocol.md), written out again here on purpose so a
 * test does not check the server with the server's own codec: T-message builders (the tag is set
 * when the client sends) and readers for R-messages.
 */
public final class P9Wire {
    public static final int NOFID = 0xffffffff;
    public static final int NOTAG = 0xffff;
    public static final int RLERROR = 7;
    public static final int TSTATFS = 8, TLOPEN = 12, TLCREATE = 14, TSYMLINK = 16, TMKNOD = 18, TRENAME = 20,
            TREADLINK = 22, TGETATTR = 24, TSETATTR = 26, TXATTRWALK = 30, TXATTRCREATE = 32, TREADDIR = 40,
            TFSYNC = 50, TLOCK = 52, TGETLOCK = 54, TLINK = 70, TMKDIR = 72, TRENAMEAT = 74, TUNLINKAT = 76,
            TVERSION = 100, TAUTH = 102, TATTACH = 104, TFLUSH = 108, TWALK = 110, TREAD = 116, TWRITE = 118,
            TCLUNK = 120, TREMOVE = 122;
    public static final int O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_CREAT = 0100, O_TRUNC = 01000, O_DIRECTORY = 0200000;

    private P9Wire() {
    }

    /** A message being built: size[4] type[1] tag[2] then fields. */
    public static final class Builder {
        private final ByteArrayOutputStream out = new ByteArrayOutputStream(64);
        private final int type;

        Builder(int type) {
            this.type = type;
            u32(0);
            u8(type);
            u16(0);
        }

        public Builder u8(int v) {
            out.write(v);
            return this;
        }

        public Builder u16(int v) {
            out.write(v);
            out.write(v >>> 8);
            return this;
        }

        public Builder u32(int v) {
            for (int i = 0; i < 4; i++) {
                out.write(v >>> (8 * i));
            }
            return this;
        }

        public Builder u64(long v) {
            for (int i = 0; i < 8; i++) {
                out.write((int) (v >>> (8 * i)));
            }
            return this;
        }

        public Builder str(String s) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            u16(b.length);
            out.write(b, 0, b.length);
            return this;
        }

        public Builder bytes(byte[] b) {
            out.write(b, 0, b.length);
            return this;
        }

        public int type() {
            return type;
        }

        public byte[] build() {
            byte[] b = out.toByteArray();
            ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putInt(0, b.length);
            return b;
        }
    }

    public static Builder message(int type) {
        return new Builder(type);
    }

    public static byte[] version(int msize, String version) {
        return message(TVERSION).u32(msize).str(version).build();
    }

    public static byte[] attach(int fid, int uid) {
        return attach(fid, uid, "");
    }

    /** Tattach naming the export (diod serves the export whose path is aname). */
    public static byte[] attach(int fid, int uid, String aname) {
        return message(TATTACH).u32(fid).u32(NOFID).str("").str(aname).u32(uid).build();
    }

    public static byte[] walk(int fid, int newfid, String... names) {
        Builder b = message(TWALK).u32(fid).u32(newfid).u16(names.length);
        for (String n : names) {
            b.str(n);
        }
        return b.build();
    }

    public static byte[] lopen(int fid, int flags) {
        return message(TLOPEN).u32(fid).u32(flags).build();
    }

    public static byte[] lcreate(int fid, String name, int flags, int mode, int gid) {
        return message(TLCREATE).u32(fid).str(name).u32(flags).u32(mode).u32(gid).build();
    }

    public static byte[] read(int fid, long offset, int count) {
        return message(TREAD).u32(fid).u64(offset).u32(count).build();
    }

    public static byte[] write(int fid, long offset, byte[] data) {
        return message(TWRITE).u32(fid).u64(offset).u32(data.length).bytes(data).build();
    }

    public static byte[] clunk(int fid) {
        return message(TCLUNK).u32(fid).build();
    }

    public static byte[] remove(int fid) {
        return message(TREMOVE).u32(fid).build();
    }

    public static byte[] getattr(int fid) {
        return message(TGETATTR).u32(fid).u64(0x7ffL).build();
    }

    public static byte[] setattr(int fid, int valid, int mode, int uid, int gid, long size,
                                 long aSec, long aNsec, long mSec, long mNsec) {
        return message(TSETATTR).u32(fid).u32(valid).u32(mode).u32(uid).u32(gid).u64(size)
                .u64(aSec).u64(aNsec).u64(mSec).u64(mNsec).build();
    }

    public static byte[] statfs(int fid) {
        return message(TSTATFS).u32(fid).build();
    }

    public static byte[] readdir(int fid, long offset, int count) {
        return message(TREADDIR).u32(fid).u64(offset).u32(count).build();
    }

    public static byte[] mkdir(int dfid, String name, int mode, int gid) {
        return message(TMKDIR).u32(dfid).str(name).u32(mode).u32(gid).build();
    }

    public static byte[] symlink(int dfid, String name, String target, int gid) {
        return message(TSYMLINK).u32(dfid).str(name).str(target).u32(gid).build();
    }

    public static byte[] mknod(int dfid, String name, int mode, int major, int minor, int gid) {
        return message(TMKNOD).u32(dfid).str(name).u32(mode).u32(major).u32(minor).u32(gid).build();
    }

    public static byte[] readlink(int fid) {
        return message(TREADLINK).u32(fid).build();
    }

    public static byte[] link(int dfid, int fid, String name) {
        return message(TLINK).u32(dfid).u32(fid).str(name).build();
    }

    public static byte[] rename(int fid, int dfid, String name) {
        return message(TRENAME).u32(fid).u32(dfid).str(name).build();
    }

    public static byte[] renameat(int olddir, String oldname, int newdir, String newname) {
        return message(TRENAMEAT).u32(olddir).str(oldname).u32(newdir).str(newname).build();
    }

    public static byte[] unlinkat(int dfid, String name, int flags) {
        return message(TUNLINKAT).u32(dfid).str(name).u32(flags).build();
    }

    public static byte[] fsync(int fid, int datasync) {
        return message(TFSYNC).u32(fid).u32(datasync).build();
    }

    public static byte[] lock(int fid, int type, long start, long length) {
        return message(TLOCK).u32(fid).u8(type).u32(0).u64(start).u64(length).u32(1).str("test").build();
    }

    public static byte[] getlock(int fid, int type, long start, long length) {
        return message(TGETLOCK).u32(fid).u8(type).u64(start).u64(length).u32(1).str("test").build();
    }

    public static byte[] xattrwalk(int fid, int newfid, String name) {
        return message(TXATTRWALK).u32(fid).u32(newfid).str(name).build();
    }

    public static byte[] xattrcreate(int fid, String name, long size, int flags) {
        return message(TXATTRCREATE).u32(fid).str(name).u64(size).u32(flags).build();
    }

    public static byte[] flush(int oldtag) {
        return message(TFLUSH).u16(oldtag).build();
    }

    /** A reply: its type, tag and body (little-endian, positioned after the header). */
    public record Reply(int type, int tag, byte[] bytes) {
        public ByteBuffer body() {
            return ByteBuffer.wrap(bytes, 7, bytes.length - 7).slice().order(ByteOrder.LITTLE_ENDIAN);
        }

        public boolean isError() {
            return type == RLERROR;
        }

        public int errno() {
            return isError() ? body().getInt(0) : 0;
        }

        /** A used buffer with nothing written: the transport returned the request without a reply (virtio). */
        public boolean isEmpty() {
            return bytes.length == 0;
        }

        public static Reply of(byte[] bytes) {
            if (bytes.length == 0) {
                return new Reply(-1, -1, bytes);
            }
            ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
            return new Reply(b.get(4) & 0xff, b.getShort(5) & 0xffff, bytes);
        }

        @Override
        public String toString() {
            return (isEmpty() ? "(released)" : "R" + type + (isError() ? "(errno " + errno() + ")" : "")) + " tag " + tag;
        }
    }

    public static String string(ByteBuffer b) {
        int len = b.getShort() & 0xffff;
        byte[] s = new byte[len];
        b.get(s);
        return new String(s, StandardCharsets.UTF_8);
    }

    /** A qid: type[1] version[4] path[8]. */
    public record Qid(int type, int version, long path) {
        public static Qid read(ByteBuffer b) {
            return new Qid(b.get() & 0xff, b.getInt(), b.getLong());
        }

        public boolean isDir() {
            return (type & 0x80) != 0;
        }
    }

    /** Rgetattr's fields. */
    public record Attr(Qid qid, int mode, int uid, int gid, long nlink, long rdev, long size, long mtimeSec) {
        public static Attr read(ByteBuffer b) {
            b.getLong();   // valid
            Qid q = Qid.read(b);
            int mode = b.getInt();
            int uid = b.getInt();
            int gid = b.getInt();
            long nlink = b.getLong();
            long rdev = b.getLong();
            long size = b.getLong();
            b.getLong();   // blksize
            b.getLong();   // blocks
            b.getLong();   // atime
            b.getLong();
            long mtime = b.getLong();
            return new Attr(q, mode, uid, gid, nlink, rdev, size, mtime);
        }
    }
}
