package io.jvmm.devices.p9.server;

import jnr.ffi.Pointer;
import jnr.ffi.annotations.Variadic;
import jnr.ffi.types.off_t;
import jnr.ffi.types.size_t;
import jnr.ffi.types.ssize_t;

/**
 * The *at system calls and the few others the 9P server needs that jnr-posix does not offer
 * (jnr-posix has no openat, fstatat, mkdirat, renameat, xattrs or F_OFD_SETLK). Raw results:
 * -1 and errno on failure; {@link Sys} turns them into {@link P9Error}s. Buffers are raw addresses
 * of native memory the caller owns. No binding has six all-numeric parameters (jnr-ffi #181).
 */
public interface FileCalls {
    @Variadic(fixedCount = 3)
    int openat(int dirfd, String path, int flags, int mode);

    int close(int fd);

    int fstatat(int dirfd, String path, Pointer statbuf, int flags);

    int fstatfs(int fd, Pointer statfsbuf);

    @ssize_t long pread(int fd, long bufAddress, @size_t long count, @off_t long offset);

    @ssize_t long pwrite(int fd, long bufAddress, @size_t long count, @off_t long offset);

    @ssize_t long read(int fd, long bufAddress, @size_t long count);

    @ssize_t long write(int fd, long bufAddress, @size_t long count);

    @ssize_t long getdents64(int fd, long bufAddress, @size_t long count);

    @off_t long lseek(int fd, @off_t long offset, int whence);

    int mkdirat(int dirfd, String path, int mode);

    int mknodat(int dirfd, String path, int mode, long dev);

    int symlinkat(String target, int dirfd, String path);

    @ssize_t long readlinkat(int dirfd, String path, Pointer buf, @size_t long size);

    int linkat(int olddirfd, String oldpath, int newdirfd, String newpath, int flags);

    int renameat(int olddirfd, String oldpath, int newdirfd, String newpath);

    int unlinkat(int dirfd, String path, int flags);

    int chmod(String path, int mode);

    int fchmod(int fd, int mode);

    int fchownat(int dirfd, String path, int uid, int gid, int flags);

    int utimensat(int dirfd, String path, Pointer times, int flags);

    int truncate(String path, @off_t long length);

    @Variadic(fixedCount = 2)
    int fcntl(int fd, int cmd, Pointer flock);

    @ssize_t long getxattr(String path, String name, Pointer value, @size_t long size);

    @ssize_t long listxattr(String path, Pointer list, @size_t long size);

    int setxattr(String path, String name, Pointer value, @size_t long size, int flags);

    int removexattr(String path, String name);

    @ssize_t long fgetxattr(int fd, String name, Pointer value, @size_t long size);

    int fsetxattr(int fd, String name, Pointer value, @size_t long size, int flags);
}
