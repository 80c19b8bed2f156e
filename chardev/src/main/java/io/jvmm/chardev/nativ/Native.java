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

    /** Returns rc, or throws a {@link NativeException} naming call if rc is negative. */
    public static int check(int rc, String call) {
        if (rc < 0) {
            throw error(call);
        }
        return rc;
    }
}
