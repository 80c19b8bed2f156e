package io.jvmm.chardev;

import jnr.constants.platform.Errno;

/**
 * A failed system call. The message names the call (with its interesting arguments) and the
 * errno, e.g. {@code memfd_create("guest-ram", MFD_CLOEXEC): EMFILE (Too many open files)}, so a
 * log line alone tells what the host refused and why.
 */
public final class NativeException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final String call;
    private final int errno;

    public NativeException(String call, int errno) {
        super(call + ": " + describe(errno));
        this.call = call;
        this.errno = errno;
    }

    /** The failed call as written in the message, e.g. {@code ftruncate(fd 12, 4096)}. */
    public String call() {
        return call;
    }

    public int errno() {
        return errno;
    }

    /** Symbolic errno name such as {@code EAGAIN}, or {@code errno N} if the platform does not know it. */
    public String errnoName() {
        Errno e = Errno.valueOf(errno);
        return e == Errno.__UNKNOWN_CONSTANT__ ? "errno " + errno : e.name();
    }

    private static String describe(int errno) {
        Errno e = Errno.valueOf(errno);
        if (e == Errno.__UNKNOWN_CONSTANT__) {
            return "errno " + errno;
        }
        return e.name() + " (" + e.description() + ")";
    }
}
