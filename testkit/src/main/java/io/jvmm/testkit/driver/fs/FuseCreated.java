package io.jvmm.testkit.driver.fs;

import java.nio.ByteBuffer;

/** The reply to CREATE (144 bytes): fuse_entry_out for the new node, then fuse_open_out for its handle. */
public record FuseCreated(FuseEntryOut entry, FuseOpenOut open) {
    public static final int BYTES = FuseEntryOut.BYTES + FuseOpenOut.BYTES;

    /** @throws FuseProtocolException unless the body is exactly 144 bytes */
    public static FuseCreated decode(byte[] body) {
        ByteBuffer b = FuseBody.exact(body, BYTES, "CREATE reply (fuse_entry_out + fuse_open_out)");
        return new FuseCreated(FuseEntryOut.read(b), FuseOpenOut.read(b));
    }
}
