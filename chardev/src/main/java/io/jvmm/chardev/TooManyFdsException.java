package io.jvmm.chardev;

/**
 * A message carried more fds than the receiver made room for (MSG_CTRUNC). The fds that did
 * arrive were closed, and the kernel dropped the rest; the stream's framing is now suspect, so
 * callers should drop the connection.
 */
public final class TooManyFdsException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public TooManyFdsException(String message) {
        super(message);
    }
}
