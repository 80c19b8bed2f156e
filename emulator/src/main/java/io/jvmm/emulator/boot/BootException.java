package io.jvmm.emulator.boot;

/**
 * A kernel, initrd, command line or memory size that cannot be booted. The message is written for
 * the user (it names the file, the field and the value), so callers print it as is, without a
 * stack trace.
 */
public final class BootException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public BootException(String message) {
        super(message);
    }

    public BootException(String message, Throwable cause) {
        super(message, cause);
    }
}
