package io.jvmm.testkit.driver.fs;

import java.nio.ByteBuffer;

/** struct fuse_attr (88 bytes): an inode's attributes as the server reports them. */
public record FuseAttr(long ino, long size, long blocks, long atime, long mtime, long ctime,
                       int atimeNsec, int mtimeNsec, int ctimeNsec, int mode, int nlink, int uid, int gid,
                       int rdev, int blksize, int flags) {
    public static final int BYTES = 88;
    public static final int S_IFMT = 0170000;
    public static final int S_IFDIR = 0040000;
    public static final int S_IFREG = 0100000;
    public static final int S_IFLNK = 0120000;

    /** Reads the next 88 bytes of {@code b}. */
    static FuseAttr read(ByteBuffer b) {
        return new FuseAttr(b.getLong(), b.getLong(), b.getLong(), b.getLong(), b.getLong(), b.getLong(),
                b.getInt(), b.getInt(), b.getInt(), b.getInt(), b.getInt(), b.getInt(), b.getInt(),
                b.getInt(), b.getInt(), b.getInt());
    }

    /** Writes the 88 bytes (as a server would; tests build canned replies with it). */
    void write(ByteBuffer b) {
        b.putLong(ino).putLong(size).putLong(blocks).putLong(atime).putLong(mtime).putLong(ctime)
                .putInt(atimeNsec).putInt(mtimeNsec).putInt(ctimeNsec).putInt(mode).putInt(nlink).putInt(uid).putInt(gid)
                .putInt(rdev).putInt(blksize).putInt(flags);
    }

    public boolean isDirectory() {
        return (mode & S_IFMT) == S_IFDIR;
    }

    public boolean isRegularFile() {
        return (mode & S_IFMT) == S_IFREG;
    }

    /** The permission bits (and setuid/setgid/sticky). */
    public int permissions() {
        return mode & 07777;
    }
}
