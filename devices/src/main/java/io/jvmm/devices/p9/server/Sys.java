package io.jvmm.devices.p9.server;

import jnr.ffi.LastError;
import jnr.ffi.LibraryLoader;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;
import jnr.posix.POSIX;
import jnr.posix.POSIXFactory;

import java.nio.charset.StandardCharsets;

/**
 * The server's file system calls: the *at calls through {@link FileCalls}, the rest through
 * jnr-posix (fsync, fdatasync, ftruncate, geteuid, rlimits). Every failure becomes a
 * {@link P9Error} with the call's errno. Struct layouts are x86-64 Linux's.
 */
public final class Sys {
    static final FileCalls C = LibraryLoader.create(FileCalls.class).load("c");
    static final Runtime RT = Runtime.getRuntime(C);
    static final POSIX POSIX = POSIXFactory.getNativePOSIX();

    public static final int O_RDONLY = 0;
    public static final int O_WRONLY = 1;
    public static final int O_RDWR = 2;
    public static final int O_ACCMODE = 3;
    public static final int O_CREAT = 0100;
    public static final int O_EXCL = 0200;
    public static final int O_NOCTTY = 0400;
    public static final int O_TRUNC = 01000;
    public static final int O_APPEND = 02000;
    public static final int O_NONBLOCK = 04000;
    public static final int O_DSYNC = 010000;
    public static final int O_DIRECT = 040000;
    public static final int O_LARGEFILE = 0100000;
    public static final int O_DIRECTORY = 0200000;
    public static final int O_NOFOLLOW = 0400000;
    public static final int O_NOATIME = 01000000;
    public static final int O_CLOEXEC = 02000000;
    public static final int O_SYNC = 04010000;
    public static final int O_PATH = 010000000;

    public static final int AT_FDCWD = -100;
    public static final int AT_SYMLINK_NOFOLLOW = 0x100;
    public static final int AT_REMOVEDIR = 0x200;
    public static final int AT_SYMLINK_FOLLOW = 0x400;
    public static final int AT_EMPTY_PATH = 0x1000;

    public static final int S_IFMT = 0170000;
    public static final int S_IFSOCK = 0140000;
    public static final int S_IFLNK = 0120000;
    public static final int S_IFREG = 0100000;
    public static final int S_IFBLK = 060000;
    public static final int S_IFDIR = 040000;
    public static final int S_IFCHR = 020000;
    public static final int S_IFIFO = 010000;

    static final int F_OFD_GETLK = 36;
    static final int F_OFD_SETLK = 37;
    static final short F_RDLCK = 0;
    static final short F_WRLCK = 1;
    static final short F_UNLCK = 2;

    static final long UTIME_NOW = (1L << 30) - 1;
    static final long UTIME_OMIT = (1L << 30) - 2;

    static final int XATTR_CREATE = 1;
    static final int XATTR_REPLACE = 2;

    private static final int STAT_SIZE = 144;
    private static final int STATFS_SIZE = 120;
    private static final ThreadLocal<Pointer> SCRATCH = ThreadLocal.withInitial(() -> Memory.allocateDirect(RT, 4096));

    private Sys() {
    }

    static int errno() {
        return LastError.getLastError(RT);
    }

    static P9Error fail(String call) {
        int e = errno();
        return new P9Error(e == 0 ? Errno.EIO : e, call + ": " + Errno.name(e));
    }

    static int check(int rc, String call) {
        if (rc < 0) {
            throw fail(call);
        }
        return rc;
    }

    static long check(long rc, String call) {
        if (rc < 0) {
            throw fail(call);
        }
        return rc;
    }

    static Pointer scratch() {
        return SCRATCH.get();
    }

    /** The magic link naming an open descriptor's file (reaches the inode itself; no path is resolved). */
    static String procPath(int fd) {
        return "/proc/self/fd/" + fd;
    }

    // ---- descriptors --------------------------------------------------------------------

    static int openat(int dirfd, String name, int flags, int mode) {
        return check(C.openat(dirfd, name, flags | O_CLOEXEC, mode), "openat");
    }

    static void close(int fd) {
        C.close(fd);
    }

    /** What fstatat says about the file open as fd (O_PATH fds included), not following a symlink. */
    static Stat fstat(int fd) {
        return statat(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
    }

    static Stat statat(int dirfd, String name, int flags) {
        Pointer b = scratch();
        check(C.fstatat(dirfd, name, b, flags), "fstatat");
        return new Stat(b.getLong(0), b.getLong(8), b.getLong(16), b.getInt(24), b.getInt(28), b.getInt(32),
                b.getLong(40), b.getLong(48), b.getLong(56), b.getLong(64),
                b.getLong(72), b.getLong(80), b.getLong(88), b.getLong(96), b.getLong(104), b.getLong(112));
    }

    /** struct statfs as 9P's Rstatfs wants it: type, bsize, blocks, bfree, bavail, files, ffree, fsid, namelen. */
    static long[] fstatfs(int fd) {
        Pointer b = scratch();
        check(C.fstatfs(fd, b), "fstatfs");
        long fsid = (b.getInt(56) & 0xffffffffL) | ((long) b.getInt(60) << 32);
        return new long[]{b.getLong(0), b.getLong(8), b.getLong(16), b.getLong(24), b.getLong(32), b.getLong(40),
                b.getLong(48), fsid, b.getLong(64)};
    }

    static int pread(int fd, long address, int count, long offset) {
        return (int) check(C.pread(fd, address, count, offset), "pread");
    }

    static int pwrite(int fd, long address, int count, long offset) {
        return (int) check(C.pwrite(fd, address, count, offset), "pwrite");
    }

    /** read(2) for FIFOs and sockets (no offset); 0 when nothing is there (non-blocking). */
    static int readStream(int fd, long address, int count) {
        long n = C.read(fd, address, count);
        if (n < 0 && errno() == Errno.EAGAIN) {
            return 0;
        }
        return (int) check(n, "read");
    }

    static int writeStream(int fd, long address, int count) {
        return (int) check(C.write(fd, address, count), "write");
    }

    static int getdents(int fd, long address, int count) {
        return (int) check(C.getdents64(fd, address, count), "getdents64");
    }

    static void lseek(int fd, long offset) {
        check(C.lseek(fd, offset, 0), "lseek");
    }

    static void fsync(int fd, boolean datasync) {
        int rc = datasync ? POSIX.fdatasync(fd) : POSIX.fsync(fd);
        if (rc < 0) {
            int e = POSIX.errno();
            throw new P9Error(e == 0 ? Errno.EIO : e, "fsync");
        }
    }

    static void ftruncate(int fd, long length) {
        if (POSIX.ftruncate(fd, length) < 0) {
            int e = POSIX.errno();
            throw new P9Error(e == 0 ? Errno.EIO : e, "ftruncate");
        }
    }

    static void truncate(int pathFd, long length) {
        check(C.truncate(procPath(pathFd), length), "truncate");
    }

    // ---- names --------------------------------------------------------------------------

    static void mkdirat(int dirfd, String name, int mode) {
        check(C.mkdirat(dirfd, name, mode), "mkdirat");
    }

    static void mknodat(int dirfd, String name, int mode, long dev) {
        check(C.mknodat(dirfd, name, mode, dev), "mknodat");
    }

    static void symlinkat(String target, int dirfd, String name) {
        check(C.symlinkat(target, dirfd, name), "symlinkat");
    }

    static String readlink(int fd) {
        Pointer b = scratch();
        long n = check(C.readlinkat(fd, "", b, 4096), "readlinkat");
        byte[] bytes = new byte[(int) n];
        b.get(0, bytes, 0, bytes.length);
        return new String(bytes, StandardCharsets.UTF_8);
    }

    /** A new name in dirfd for the file open as fd (through its magic link: no CAP_DAC_READ_SEARCH needed). */
    static void link(int fd, int dirfd, String name) {
        check(C.linkat(AT_FDCWD, procPath(fd), dirfd, name, AT_SYMLINK_FOLLOW), "linkat");
    }

    /** A new name for the symbolic link open (O_PATH) as fd, never for its target (needs CAP_DAC_READ_SEARCH). */
    static void linkSymlink(int fd, int dirfd, String name) {
        check(C.linkat(fd, "", dirfd, name, AT_EMPTY_PATH), "linkat");
    }

    static void renameat(int olddirfd, String oldname, int newdirfd, String newname) {
        check(C.renameat(olddirfd, oldname, newdirfd, newname), "renameat");
    }

    static void unlinkat(int dirfd, String name, int flags) {
        check(C.unlinkat(dirfd, name, flags), "unlinkat");
    }

    // ---- attributes ---------------------------------------------------------------------

    static void chmod(int pathFd, int mode) {
        check(C.chmod(procPath(pathFd), mode & 07777), "chmod");
    }

    static void fchmod(int fd, int mode) {
        check(C.fchmod(fd, mode & 07777), "fchmod");
    }

    static void chown(int fd, int uid, int gid) {
        check(C.fchownat(fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW), "fchownat");
    }

    /** Sets times of the file open as pathFd; sec is ignored for UTIME_NOW / UTIME_OMIT in nsec. */
    static void utimens(int pathFd, long aSec, long aNsec, long mSec, long mNsec) {
        Pointer b = scratch();
        b.putLong(0, aSec);
        b.putLong(8, aNsec);
        b.putLong(16, mSec);
        b.putLong(24, mNsec);
        check(C.utimensat(AT_FDCWD, procPath(pathFd), b, 0), "utimensat");
    }

    // ---- OFD locks ------------------------------------------------------------------------

    /** F_OFD_SETLK; returns false when a conflicting lock is held (EAGAIN / EACCES). */
    static boolean setLock(int fd, short type, long start, long length) {
        Pointer b = scratch();
        fillFlock(b, type, start, length);
        if (C.fcntl(fd, F_OFD_SETLK, b) < 0) {
            int e = errno();
            if (e == Errno.EAGAIN || e == Errno.EACCES) {
                return false;
            }
            throw new P9Error(e, "fcntl(F_OFD_SETLK)");
        }
        return true;
    }

    /** F_OFD_GETLK: {type, start, length, pid} of a conflicting lock, or type F_UNLCK. */
    static long[] getLock(int fd, short type, long start, long length) {
        Pointer b = scratch();
        fillFlock(b, type, start, length);
        check(C.fcntl(fd, F_OFD_GETLK, b), "fcntl(F_OFD_GETLK)");
        return new long[]{b.getShort(0), b.getLong(8), b.getLong(16), b.getInt(24)};
    }

    private static void fillFlock(Pointer b, short type, long start, long length) {
        b.setMemory(0, 32, (byte) 0);
        b.putShort(0, type);
        b.putShort(2, (short) 0);   // SEEK_SET
        b.putLong(8, start);
        b.putLong(16, length);
    }

    // ---- xattrs (through the magic link: O_PATH descriptors have no f*xattr) ----------------

    static byte[] getxattr(int pathFd, String name) {
        String path = procPath(pathFd);
        for (int attempt = 0; attempt < 3; attempt++) {
            long size = check(C.getxattr(path, name, null, 0), "getxattr");
            if (size == 0) {
                return new byte[0];
            }
            Pointer b = Memory.allocateDirect(RT, (int) size);
            long n = C.getxattr(path, name, b, size);
            if (n >= 0) {
                byte[] out = new byte[(int) n];
                b.get(0, out, 0, out.length);
                return out;
            }
            if (errno() != Errno.ERANGE) {
                throw fail("getxattr");
            }
        }
        throw new P9Error(Errno.ERANGE, "getxattr: value keeps changing size");
    }

    /** The attribute's value, or null when it is absent (ENODATA) or xattrs are not supported. */
    static byte[] getxattrOrNull(int pathFd, String name) {
        Pointer b = scratch();
        long n = C.getxattr(procPath(pathFd), name, b, 4096);
        if (n < 0) {
            int e = errno();
            if (e == Errno.ENODATA || e == Errno.EOPNOTSUPP) {
                return null;
            }
            throw new P9Error(e, "getxattr " + name);
        }
        byte[] out = new byte[(int) n];
        b.get(0, out, 0, out.length);
        return out;
    }

    static byte[] listxattr(int pathFd) {
        String path = procPath(pathFd);
        for (int attempt = 0; attempt < 3; attempt++) {
            long size = check(C.listxattr(path, null, 0), "listxattr");
            if (size == 0) {
                return new byte[0];
            }
            Pointer b = Memory.allocateDirect(RT, (int) size);
            long n = C.listxattr(path, b, size);
            if (n >= 0) {
                byte[] out = new byte[(int) n];
                b.get(0, out, 0, out.length);
                return out;
            }
            if (errno() != Errno.ERANGE) {
                throw fail("listxattr");
            }
        }
        throw new P9Error(Errno.ERANGE, "listxattr: list keeps changing size");
    }

    static void setxattr(int pathFd, String name, byte[] value, int flags) {
        Pointer b = Memory.allocateDirect(RT, Math.max(1, value.length));
        b.put(0, value, 0, value.length);
        check(C.setxattr(procPath(pathFd), name, b, value.length, flags), "setxattr");
    }

    static void removexattr(int pathFd, String name) {
        check(C.removexattr(procPath(pathFd), name), "removexattr");
    }

    // ---- the process ----------------------------------------------------------------------

    public static int geteuid() {
        return POSIX.geteuid();
    }

    public static int getegid() {
        return POSIX.getegid();
    }

    /**
     * Raises RLIMIT_NOFILE's soft limit to its hard limit (each fid holds a descriptor); returns
     * the limit now in force.
     */
    public static long raiseOpenFileLimit() {
        final int rlimitNofile = 7;
        jnr.posix.RLimit lim = POSIX.getrlimit(rlimitNofile);
        if (lim.rlimCur() < lim.rlimMax()) {
            POSIX.setrlimit(rlimitNofile, lim.rlimMax(), lim.rlimMax());
            lim = POSIX.getrlimit(rlimitNofile);
        }
        return lim.rlimCur();
    }

    /** What stat says, in x86-64 struct stat's fields. */
    public record Stat(long dev, long ino, long nlink, int mode, int uid, int gid, long rdev, long size,
                       long blksize, long blocks, long atimeSec, long atimeNsec, long mtimeSec, long mtimeNsec,
                       long ctimeSec, long ctimeNsec) {
        public int type() {
            return mode & S_IFMT;
        }

        public boolean isDir() {
            return type() == S_IFDIR;
        }

        public boolean isSymlink() {
            return type() == S_IFLNK;
        }

        public boolean isDevice() {
            return type() == S_IFCHR || type() == S_IFBLK;
        }

        Stat with(int newMode, int newUid, int newGid, long newRdev) {
            return new Stat(dev, ino, nlink, newMode, newUid, newGid, newRdev, size, blksize, blocks,
                    atimeSec, atimeNsec, mtimeSec, mtimeNsec, ctimeSec, ctimeNsec);
        }
    }
}
