package io.jvmm.testkit.driver;

/** A guest driver found the device misbehaving, or could not do what it was asked (names device and register). */
public class GuestDriverException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public GuestDriverException(String message) {
        super(message);
    }

    public GuestDriverException(String message, Throwable cause) {
        super(message, cause);
    }
}
