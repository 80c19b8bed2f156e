package io.jvmm.chardev.nativ;

import jnr.ffi.Pointer;
import jnr.ffi.annotations.Out;
import jnr.ffi.annotations.Variadic;
import jnr.ffi.byref.LongLongByReference;
import jnr.ffi.types.off_t;
import jnr.ffi.types.size_t;
import jnr.ffi.types.ssize_t;

/**
 * The raw libc functions jvmm calls, bound by jnr-ffi. Everything here returns the C result
 * unchanged (-1 and errno on failure); {@link Native} turns failures into exceptions, and the
 * small wrappers in this package ({@link UnixSockets}, {@link Epoll}) own the struct layouts.
 *
 * <p>Binding rules learnt the hard way (see PLATFORM-NOTES.md): a function whose six
 * parameters are all numeric gets a garbage sixth argument (jnr-ffi bug #181), so every
 * six-parameter binding has a {@link Pointer} among its parameters; ioctl requests are
 * {@code long} (glibc's {@code unsigned long}). Buffers are passed as raw addresses
 * ({@code long}) where the caller already holds native memory, which avoids copying.
 */
public interface LibC {

    // --- file descriptors -------------------------------------------------------------

    @Variadic(fixedCount = 2)
    int open(String path, int flags, int mode);

    int close(int fd);

    @Variadic(fixedCount = 2)
    int fcntl(int fd, int cmd, int arg);

    /** fcntl with a struct argument (F_OFD_SETLK / F_OFD_GETLK with a struct flock). */
    @Variadic(fixedCount = 2)
    int fcntl(int fd, int cmd, Pointer arg);

    @ssize_t long read(int fd, long bufAddress, @size_t long count);

    @ssize_t long write(int fd, long bufAddress, @size_t long count);

    int ftruncate(int fd, @off_t long length);

    /** preadv2/pwritev2 (Linux 4.6+, glibc 2.26+) with an iovec array the caller owns; flags e.g. RWF_NOWAIT. */
    @ssize_t long preadv2(int fd, long iovAddress, int iovcnt, @off_t long offset, int flags);

    @ssize_t long pwritev2(int fd, long iovAddress, int iovcnt, @off_t long offset, int flags);

    long sysconf(int name);

    /** ioctl with a pointer argument (struct in/out); request is glibc's unsigned long. */
    int ioctl(int fd, long request, Pointer arg);

    /** ioctl with an integer argument (e.g. KVM_CHECK_EXTENSION, KVM_CREATE_VCPU). */
    int ioctl(int fd, long request, long arg);

    // --- eventfd ----------------------------------------------------------------------

    int eventfd(int initval, int flags);

    int eventfd_read(int fd, LongLongByReference value);

    int eventfd_write(int fd, long value);

    // --- memfd / mmap -----------------------------------------------------------------

    int memfd_create(String name, int flags);

    /** addr is a Pointer (pass null) because of jnr-ffi bug #181; returns MAP_FAILED (-1) on error. */
    long mmap(Pointer addr, @size_t long length, int prot, int flags, int fd, @off_t long offset);

    int munmap(long addr, @size_t long length);

    // --- sockets (struct pointers as raw addresses of memory the caller owns) ---------

    int socket(int domain, int type, int protocol);

    int socketpair(int domain, int type, int protocol, @Out int[] sv);

    int bind(int fd, long addrAddress, int addrLen);

    int listen(int fd, int backlog);

    int accept4(int fd, long addrAddress, long addrLenAddress, int flags);

    int connect(int fd, long addrAddress, int addrLen);

    int shutdown(int fd, int how);

    int setsockopt(int fd, int level, int optname, long optvalAddress, int optlen);

    int getsockopt(int fd, int level, int optname, long optvalAddress, long optlenAddress);

    /** syscall(2) with two arguments (pidfd_open has no glibc wrapper on Debian 12's glibc 2.36). */
    @Variadic(fixedCount = 1)
    long syscall(long number, long arg1, long arg2);

    @ssize_t long sendmsg(int fd, long msghdrAddress, int flags);

    @ssize_t long recvmsg(int fd, long msghdrAddress, int flags);

    // --- epoll ------------------------------------------------------------------------

    int epoll_create1(int flags);

    int epoll_ctl(int epfd, int op, int fd, long eventAddress);

    int epoll_wait(int epfd, long eventsAddress, int maxevents, int timeoutMs);
}
