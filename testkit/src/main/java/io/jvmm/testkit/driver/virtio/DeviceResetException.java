package io.jvmm.testkit.driver.virtio;

import io.jvmm.testkit.driver.GuestDriverException;

/** A request was still in flight when its device was reset: it will never complete. */
public final class DeviceResetException extends GuestDriverException {
    private static final long serialVersionUID = 1L;

    public DeviceResetException(String message) {
        super(message);
    }
}
