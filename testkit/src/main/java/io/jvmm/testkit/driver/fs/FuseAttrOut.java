package io.jvmm.testkit.driver.fs;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/** struct fuse_attr_out (104 bytes): the reply to GETATTR. */
public record FuseAttrOut(long attrValid, int attrValidNsec, FuseAttr attr) {
    public static final int BYTES = 104;

    /** @throws FuseProtocolException unless the body is exactly 104 bytes */
    public static FuseAttrOut decode(byte[] body) {
        ByteBuffer b = FuseBody.exact(body, BYTES, "fuse_attr_out");
        long valid = b.getLong();
        int nsec = b.getInt();
        b.getInt();   // dummy
        return new FuseAttrOut(valid, nsec, FuseAttr.read(b));
    }

    public byte[] encode() {
        ByteBuffer b = ByteBuffer.allocate(BYTES).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(attrValid).putInt(attrValidNsec).putInt(0);
        attr.write(b);
        return b.array();
    }
}
