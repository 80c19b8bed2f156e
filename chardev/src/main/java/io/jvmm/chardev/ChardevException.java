package io.jvmm.chardev;

/** A character device could not be opened or used; the message names the chardev id and path. */
public final class ChardevException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public ChardevException(String message, Throwable cause) {
        super(message, cause);
    }
}
