package io.jvmm.testkit.driver.fs;

import io.jvmm.testkit.driver.GuestDriverException;

/**
 * The device set DEVICE_NEEDS_RESET while requests were waiting (its back-end died or broke):
 * they will not complete until the driver resets and re-initialises it.
 */
public final class DeviceNeedsResetException extends GuestDriverException {
    private static final long serialVersionUID = 1L;

    public DeviceNeedsResetException(String message) {
        super(message);
    }
}
