package io.jvmm.chardev;

import static io.jvmm.chardev.nativ.LinuxConstants.EFD_CLOEXEC;
import static io.jvmm.chardev.nativ.LinuxConstants.EFD_NONBLOCK;
import static io.jvmm.chardev.nativ.LinuxConstants.F_GETFL;
import static io.jvmm.chardev.nativ.LinuxConstants.F_SETFL;
import static io.jvmm.chardev.nativ.LinuxConstants.O_NONBLOCK;

import io.jvmm.chardev.nativ.LibC;
import io.jvmm.chardev.nativ.Native;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A Linux eventfd: a 64-bit counter the kernel can signal across threads and processes (KVM
 * irqfd/ioeventfd, vhost-user kick/call, ivshmem doorbells). Always non-blocking, so
 * {@link #consume()} never stalls an event loop.
 *
 * <p>Thread-safe: signal and consume may be called from any thread; the kernel serialises them.
 */
public final class EventFd implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(EventFd.class);
    private static final LibC LIBC = Native.libc();

    private final int fd;
    /** Keeps the fd open while a signal or consume on another thread may still use it. */
    private final FdUsers users = new FdUsers();

    private EventFd(int fd) {
        this.fd = fd;
    }

    /** A new eventfd with counter 0 ({@code EFD_CLOEXEC | EFD_NONBLOCK}). */
    public static EventFd create() {
        int fd = Native.check(LIBC.eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), "eventfd(0, EFD_CLOEXEC|EFD_NONBLOCK)");
        log.debug("created eventfd {}", fd);
        return new EventFd(fd);
    }

    /**
     * Wraps an eventfd received from a peer and takes ownership of it: close() closes it, and so
     * does a failure here. The fd is made non-blocking; note this flag lives on the open file
     * description, which the peer shares.
     *
     * @throws IllegalArgumentException if fd is not an open eventfd
     */
    public static EventFd adopt(int fd) {
        try {
            String kind = Fds.describe(fd);
            if (!"anon_inode:[eventfd]".equals(kind)) {
                throw new IllegalArgumentException("fd " + fd + " is not an eventfd (it is " + kind + ")");
            }
            int flags = Native.check(LIBC.fcntl(fd, F_GETFL, 0), "fcntl(fd " + fd + ", F_GETFL)");
            if ((flags & O_NONBLOCK) == 0) {
                Native.check(LIBC.fcntl(fd, F_SETFL, flags | O_NONBLOCK), "fcntl(fd " + fd + ", F_SETFL, O_NONBLOCK)");
            }
        } catch (RuntimeException e) {
            if (fd >= 0 && Fds.isOpen(fd)) {
                Fds.closeQuietly(fd);
            }
            throw e;
        }
        log.debug("adopted eventfd {}", fd);
        return new EventFd(fd);
    }

    /** The file descriptor, for handing to KVM or a peer. */
    public int fd() {
        ensureOpen();
        return fd;
    }

    /** Adds 1 to the counter. */
    public void signal() {
        signal(1);
    }

    /**
     * Adds n (&gt; 0) to the counter.
     *
     * @throws NativeException with EAGAIN if the counter would overflow (the reader is not
     *         consuming)
     */
    public void signal(long n) {
        if (n <= 0) {
            throw new IllegalArgumentException("eventfd " + fd + ": signal count must be positive, got " + n);
        }
        if (!trySignal(n)) {
            throw new IllegalStateException("eventfd " + fd + " is closed");
        }
    }

    /**
     * Adds n (&gt; 0) to the counter unless the eventfd is closed, in which case it returns false:
     * for a signaller that may race with the owner's close (a doorbell to a peer that just left).
     * A close that comes while the write is under way waits for it to finish before releasing the
     * fd, so the write never reaches another file that got the same number.
     */
    public boolean trySignal(long n) {
        if (n <= 0) {
            throw new IllegalArgumentException("eventfd " + fd + ": signal count must be positive, got " + n);
        }
        if (!users.enter()) {
            return false;
        }
        try {
            if (LIBC.eventfd_write(fd, n) < 0) {
                throw Native.error("eventfd_write(fd " + fd + ", " + n + ")");
            }
            return true;
        } finally {
            release();
        }
    }

    /** Returns the counter and resets it to 0; returns 0 at once if nothing is pending. */
    public long consume() {
        if (!users.enter()) {
            throw new IllegalStateException("eventfd " + fd + " is closed");
        }
        try {
            long value = Native.readEventFd(fd);   // into per-thread scratch memory: no allocation
            return value < 0 ? 0 : value;
        } finally {
            release();
        }
    }

    public boolean isClosed() {
        return users.isClosed();
    }

    /**
     * Closes the fd; later calls do nothing. A signal or consume already under way on another
     * thread finishes first: the last of them releases the fd.
     */
    @Override
    public void close() {
        if (!users.close()) {
            return;
        }
        release();
    }

    /** Ends a use (or the closer's hold); the last one out after close() releases the fd. */
    private void release() {
        if (users.exit()) {
            Fds.close(fd);
            log.debug("closed eventfd {}", fd);
        }
    }

    private void ensureOpen() {
        if (users.isClosed()) {
            throw new IllegalStateException("eventfd " + fd + " is closed");
        }
    }

    @Override
    public String toString() {
        return "EventFd[" + fd + (users.isClosed() ? ", closed]" : "]");
    }
}
