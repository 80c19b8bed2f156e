package io.jvmm.chardev;

import static io.jvmm.chardev.nativ.LinuxConstants.F_DUPFD_CLOEXEC;

import io.jvmm.chardev.nativ.LibC;
import io.jvmm.chardev.nativ.Native;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import jnr.constants.platform.Errno;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Helpers for raw file descriptors (the ones received from peers or handed to KVM). */
public final class Fds {
    private static final Logger log = LoggerFactory.getLogger(Fds.class);
    private static final LibC LIBC = Native.libc();

    private Fds() {
    }

    /**
     * Closes fd. EINTR counts as closed (on Linux the fd is released even then, and retrying
     * could close somebody else's new fd).
     *
     * @throws NativeException if fd was not open (EBADF), which usually means a double close
     */
    public static void close(int fd) {
        if (LIBC.close(fd) < 0) {
            int errno = Native.errno();
            if (errno != Errno.EINTR.intValue()) {
                throw new NativeException("close(fd " + fd + ")", errno);
            }
        }
    }

    /** Closes every fd, logging instead of throwing; for clean-up paths. Negative fds are skipped. */
    public static void closeQuietly(int... fds) {
        for (int fd : fds) {
            if (fd < 0) {
                continue;
            }
            try {
                close(fd);
            } catch (NativeException e) {
                log.warn("closing fd {} failed: {}", fd, e.getMessage());
            }
        }
    }

    /** Closes every fd in the collection (clean-up paths), logging failures. */
    public static void closeQuietly(Iterable<Integer> fds) {
        for (int fd : fds) {
            closeQuietly(fd);
        }
    }

    /** A new close-on-exec duplicate of fd (F_DUPFD_CLOEXEC) that the caller owns. */
    public static int dup(int fd) {
        return Native.check(LIBC.fcntl(fd, F_DUPFD_CLOEXEC, 0), "fcntl(fd " + fd + ", F_DUPFD_CLOEXEC)");
    }

    /** True if fd is open in this process. */
    public static boolean isOpen(int fd) {
        return fd >= 0 && Files.exists(Path.of("/proc/self/fd/" + fd), java.nio.file.LinkOption.NOFOLLOW_LINKS);
    }

    /**
     * What an fd of this process refers to, as /proc shows it: {@code anon_inode:[eventfd]},
     * {@code /memfd:guest-ram (deleted)}, {@code socket:[1234]}, a path...
     *
     * @throws IllegalArgumentException if fd is negative or not open
     */
    public static String describe(int fd) {
        if (fd < 0) {
            throw new IllegalArgumentException("fd " + fd + " is negative");
        }
        try {
            return Files.readSymbolicLink(Path.of("/proc/self/fd/" + fd)).toString();
        } catch (NoSuchFileException e) {
            throw new IllegalArgumentException("fd " + fd + " is not open", e);
        } catch (IOException e) {
            throw new IllegalArgumentException("fd " + fd + " cannot be inspected: " + e.getMessage(), e);
        }
    }
}
