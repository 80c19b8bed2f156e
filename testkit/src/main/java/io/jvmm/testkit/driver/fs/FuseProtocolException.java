package io.jvmm.testkit.driver.fs;

import io.jvmm.testkit.driver.GuestDriverException;

/**
 * A FUSE reply the client cannot accept: shorter than its header, a length that disagrees with
 * what the device reported, another request's unique, an impossible error value, a body of the
 * wrong size, an unsupported protocol version. The server (or the device) is broken.
 */
public final class FuseProtocolException extends GuestDriverException {
    private static final long serialVersionUID = 1L;

    public FuseProtocolException(String message) {
        super(message);
    }
}
