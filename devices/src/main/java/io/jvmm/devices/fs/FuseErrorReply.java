package io.jvmm.devices.fs;

import io.jvmm.virtio.queue.DescriptorChain;
import io.jvmm.virtio.vhost.frontend.ErrorCompletion;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * virtio-fs's answer to a request whose back-end is gone: a FUSE reply that is the 16-byte
 * {@code fuse_out_header} alone, {@code len} 16, {@code error} -ENOTCONN (what a FUSE request gets
 * when its daemon died: "Transport endpoint is not connected"), {@code unique} copied from the
 * request's {@code fuse_in_header}. Requests that expect no reply (FORGET, BATCH_FORGET: no
 * device-writable buffer) and requests too short to carry a header are returned with nothing
 * written.
 */
public final class FuseErrorReply implements ErrorCompletion {
    /** Linux's ENOTCONN. */
    public static final int ENOTCONN = 107;
    static final int OUT_HEADER = 16;
    static final int IN_HEADER = 40;
    static final int UNIQUE_OFFSET = 8;

    public static final FuseErrorReply ENOTCONN_REPLY = new FuseErrorReply(ENOTCONN);

    private final int errno;

    public FuseErrorReply(int errno) {
        if (errno <= 0 || errno > 4095) {
            throw new IllegalArgumentException("a FUSE error is an errno in 1..4095, got " + errno);
        }
        this.errno = errno;
    }

    @Override
    public int write(int queue, DescriptorChain chain) {
        if (chain.writableLength() < OUT_HEADER) {
            return 0;
        }
        long unique = 0;
        if (chain.readableLength() >= IN_HEADER) {
            ByteBuffer in = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            chain.copyFromReadable(UNIQUE_OFFSET, in);
            unique = in.getLong(0);
        }
        ByteBuffer out = ByteBuffer.allocate(OUT_HEADER).order(ByteOrder.LITTLE_ENDIAN);
        out.putInt(OUT_HEADER).putInt(-errno).putLong(unique).flip();
        return chain.copyToWritable(0, out);
    }

    @Override
    public String toString() {
        return "FUSE error reply -" + errno;
    }
}
