package io.jvmm.chardev.nativ;

import io.jvmm.chardev.NativeException;
import jnr.ffi.LastError;
import jnr.ffi.LibraryLoader;
import jnr.ffi.Runtime;

/**
 * The one place that loads the native bindings, plus the errno plumbing every caller shares.
 * The libc binding is loaded once per JVM (class initialisation is thread-safe).
 */
public final class Native {
    private static final LibC LIBC = LibraryLoader.create(LibC.class).load("c");
    private static final Runtime RUNTIME = Runtime.getRuntime(LIBC);

    private static final int EAGAIN = jnr.constants.platform.Errno.EAGAIN.intValue();
    private static final long PAGE_SIZE = LIBC.sysconf(LinuxConstants.SC_PAGESIZE);

    private Native() {
    }

    public static LibC libc() {
        return LIBC;
    }

    public static Runtime runtime() {
        return RUNTIME;
    }

    /** The host page size (mmap offsets and lengths are multiples of it). */
    public static long pageSize() {
        return PAGE_SIZE;
    }

    /**
     * errno of the last native call made by this thread. Read it immediately after the failing
     * call: any later native call on the thread (even a successful one) may overwrite it.
     */
    public static int errno() {
        return LastError.getLastError(RUNTIME);
    }

    /** An exception for the call that just failed on this thread. */
    public static NativeException error(String call) {
        return new NativeException(call, errno());
    }

    /**
     * Reads an eventfd's 8-byte counter into this thread's scratch memory (no allocation): the
     * counter, or -1 if the (non-blocking) eventfd had nothing pending. Other errors throw.
     */
    public static long readEventFd(int fd) {
        ScratchMemory scratch = ScratchMemory.get();
        long n = LIBC.read(fd, scratch.address, 8);
        if (n == 8) {
            return scratch.buffer.getLong(0);
        }
        int errno = errno();
        if (n < 0 && errno == EAGAIN) {
            return -1;
        }
        throw new NativeException("read of eventfd " + fd + (n < 0 ? "" : " (" + n + " of 8 bytes)"), n < 0 ? errno : 0);
    }

    /** Returns rc, or throws a {@link NativeException} naming call if rc is negative. */
    public static int check(int rc, String call) {
        if (rc < 0) {
            throw error(call);
        }
        return rc;
    }
}
