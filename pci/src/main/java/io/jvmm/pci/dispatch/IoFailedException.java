package io.jvmm.pci.dispatch;

/** An operation a vCPU waited for failed with a checked cause, was cancelled or interrupted. */
public final class IoFailedException extends RuntimeException {

    public IoFailedException(String message, Throwable cause) {
        super(message, cause);
    }
}
