package io.jvmm.testkit.driver.fs;

import io.jvmm.testkit.driver.GuestDriverException;

/**
 * A FUSE request the server answered with an error (fuse_out_header.error = -errno): a
 * well-formed reply saying "no", e.g. ENOENT for a LOOKUP of a missing name.
 */
public final class FuseException extends GuestDriverException {
    private static final long serialVersionUID = 1L;

    private final int opcode;
    private final int errno;

    public FuseException(int opcode, String request, int errno) {
        super(String.format("FUSE %s failed: %s (errno %d)", request, Errno.name(errno), errno));
        this.opcode = opcode;
        this.errno = errno;
    }

    public int opcode() {
        return opcode;
    }

    /** The positive errno, e.g. {@link Errno#ENOENT}. */
    public int errno() {
        return errno;
    }

    /** The errno's name, e.g. "ENOENT". */
    public String errnoName() {
        return Errno.name(errno);
    }
}
