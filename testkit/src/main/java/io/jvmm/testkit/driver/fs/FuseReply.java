package io.jvmm.testkit.driver.fs;

import java.util.Arrays;

/**
 * A validated FUSE reply: its out-header and body. {@link #parse} is where a reply is judged
 * well-formed, the way Linux's fuse_dev_do_write judges one, before any body decoder sees it.
 */
public record FuseReply(FuseOutHeader header, byte[] body) {
    /** The largest errno Linux accepts in a reply (error must be in -4095..0). */
    static final int MAX_ERRNO = 4095;

    /**
     * Checks the device's answer to {@code request}, sent with {@code unique}.
     *
     * @return the reply, when it is a success
     * @throws FuseException when the server answered with an error (well-formed)
     * @throws FuseProtocolException when the answer is malformed: a used length beyond the offered
     *     buffer or shorter than the out-header, another unique, a header length that disagrees
     *     with the used length, an impossible error value, an error reply with a body
     */
    public static FuseReply parse(FsResponse response, FuseRequest request, long unique) {
        if (!request.expectsReply()) {
            throw new IllegalArgumentException(request + " expects no reply; use requireNoReply");
        }
        String what = "FUSE " + request + " (unique " + unique + ")";
        long used = response.usedLength();
        if (used > response.capacity()) {
            throw new FuseProtocolException(String.format("%s: the device reports %d bytes written into a %d-byte reply buffer",
                    what, used, response.capacity()));
        }
        if (used < FuseOutHeader.BYTES) {
            throw new FuseProtocolException(String.format("%s: reply of %d bytes is shorter than the %d-byte fuse_out_header",
                    what, used, FuseOutHeader.BYTES));
        }
        FuseOutHeader h = FuseOutHeader.decode(response.written());
        if (h.unique() != unique) {
            throw new FuseProtocolException(String.format("%s: the reply carries unique %d, another request's", what, h.unique()));
        }
        if (Integer.toUnsignedLong(h.len()) != used) {
            throw new FuseProtocolException(String.format("%s: fuse_out_header.len is %d but the device wrote %d bytes",
                    what, Integer.toUnsignedLong(h.len()), used));
        }
        if (h.error() > 0 || h.error() < -MAX_ERRNO) {
            throw new FuseProtocolException(String.format("%s: error %d is not a negated errno (-%d..0)", what, h.error(), MAX_ERRNO));
        }
        if (h.error() != 0) {
            if (used != FuseOutHeader.BYTES) {
                throw new FuseProtocolException(String.format("%s: an error reply (%s) carries %d body bytes; it must be the header alone",
                        what, Errno.name(-h.error()), used - FuseOutHeader.BYTES));
            }
            throw new FuseException(request.opcode(), request + " (unique " + unique + ")", -h.error());
        }
        return new FuseReply(h, Arrays.copyOfRange(response.written(), FuseOutHeader.BYTES, (int) used));
    }

    /**
     * Checks the device's completion of a request that has no reply (FORGET): it offered no
     * writable buffer, so the device cannot have written anything.
     *
     * @throws FuseProtocolException if the used length is not 0
     */
    public static void requireNoReply(FsResponse response, FuseRequest request, long unique) {
        if (response.usedLength() != 0) {
            throw new FuseProtocolException(String.format("FUSE %s (unique %d): the device reports %d bytes written for a request without reply buffer",
                    request, unique, response.usedLength()));
        }
    }
}
