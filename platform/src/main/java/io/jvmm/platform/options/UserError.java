package io.jvmm.platform.options;

/**
 * A mistake in what the user asked for (an option, a file, a device property). main() prints its
 * message alone, with no stack trace, and exits non-zero.
 */
public final class UserError extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    public UserError(String message) {
        super(message);
    }

    public UserError(String message, Throwable cause) {
        super(message, cause);
    }
}
