package io.jvmm.chardev;

/** A receive with a timeout set (see UnixSocketChannel#setReceiveTimeout) got nothing in time. */
public final class ReceiveTimeoutException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public ReceiveTimeoutException(String message) {
        super(message);
    }
}
