package io.jvmm.devices.p9.server;

/** A 9P request that fails with a Linux errno: answered with Rlerror(errno). Cheap: no stack trace. */
public final class P9Error extends RuntimeException {
    private final int errno;

    public P9Error(int errno, String message) {
        super(message, null, false, false);
        this.errno = errno;
    }

    public P9Error(int errno) {
        this(errno, Errno.name(errno));
    }

    public int errno() {
        return errno;
    }
}
