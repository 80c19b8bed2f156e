package io.jvmm.chardev;

/** A send with a timeout set (see UnixSocketChannel#setSendTimeout) could not go on in time: the peer is not reading. */
public final class SendTimeoutException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public SendTimeoutException(String message) {
        super(message);
    }
}
