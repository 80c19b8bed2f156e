package io.jvmm.emulator.vfiouser;

import jnr.constants.platform.Errno;

/**
 * A request the server refuses: the errno goes back to the client in an error reply, the
 * message into the log. Handlers throw it for every malformed or unsupported request.
 */
public class VfioUserException extends RuntimeException {
    private final int errno;

    public VfioUserException(Errno errno, String message) {
        super(message);
        this.errno = errno.intValue();
    }

    public VfioUserException(int errno, String message) {
        super(message);
        this.errno = errno;
    }

    /** The errno the error reply carries. */
    public int errno() {
        return errno;
    }

    /** The errno's name, e.g. "EINVAL", for logs and messages. */
    public static String errnoName(int errno) {
        Errno e = Errno.valueOf(errno);
        return e == null || e == Errno.__UNKNOWN_CONSTANT__ ? "errno " + errno : e.name();
    }
}
