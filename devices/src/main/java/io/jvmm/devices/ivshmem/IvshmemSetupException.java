package io.jvmm.devices.ivshmem;

/** The ivshmem server's setup failed: the message names the server and what was wrong. */
public final class IvshmemSetupException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public IvshmemSetupException(String message) {
        super(message);
    }

    public IvshmemSetupException(String message, Throwable cause) {
        super(message, cause);
    }
}
