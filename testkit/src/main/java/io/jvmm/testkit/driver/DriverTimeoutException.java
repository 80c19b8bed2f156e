package io.jvmm.testkit.driver;

/** Something a guest driver waited for (a status, an interrupt, a used buffer) did not happen in time. */
public class DriverTimeoutException extends GuestDriverException {
    private static final long serialVersionUID = 1L;

    public DriverTimeoutException(String message) {
        super(message);
    }
}
