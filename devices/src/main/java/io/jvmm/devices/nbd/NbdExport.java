package io.jvmm.devices.nbd;

import io.jvmm.devices.blk.BlockBackend;
import java.nio.charset.StandardCharsets;
import java.util.Objects;

/**
 * One export of an {@link NbdServer}: a name clients ask for, a block back-end every connection
 * to it shares, and whether clients may write.
 *
 * @param multiConn advertise NBD_FLAG_CAN_MULTI_CONN: safe here because every connection to the
 *                  export shares the one back-end object, so a FLUSH on any connection covers the
 *                  writes completed on all of them
 */
public record NbdExport(String name, String description, BlockBackend backend, boolean writable, boolean multiConn) {
    public NbdExport {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(backend, "backend");
        if (name.getBytes(StandardCharsets.UTF_8).length > NbdProtocol.MAX_STRING) {
            throw new IllegalArgumentException("NBD export name longer than " + NbdProtocol.MAX_STRING + " bytes");
        }
        if (description != null && description.getBytes(StandardCharsets.UTF_8).length > NbdProtocol.MAX_STRING) {
            throw new IllegalArgumentException("NBD export '" + name + "': description longer than " + NbdProtocol.MAX_STRING + " bytes");
        }
        if (writable && backend.readOnly()) {
            throw new IllegalArgumentException("NBD export '" + name + "': writable=on but " + backend.describe() + " is read-only");
        }
    }

    /** The transmission flags of this export (structured: whether the client negotiated structured replies). */
    int transmissionFlags(boolean structured) {
        int f = NbdProtocol.FLAG_HAS_FLAGS | NbdProtocol.FLAG_SEND_FLUSH | NbdProtocol.FLAG_SEND_FUA
                | NbdProtocol.FLAG_SEND_TRIM | NbdProtocol.FLAG_SEND_WRITE_ZEROES | NbdProtocol.FLAG_SEND_FAST_ZERO;
        if (!writable) {
            f |= NbdProtocol.FLAG_READ_ONLY;
        }
        if (structured) {
            f |= NbdProtocol.FLAG_SEND_DF;
        }
        if (multiConn) {
            f |= NbdProtocol.FLAG_CAN_MULTI_CONN;
        }
        return f;
    }
}
