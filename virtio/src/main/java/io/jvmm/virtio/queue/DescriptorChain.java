package io.jvmm.virtio.queue;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * One request taken from a virtqueue: its head index and the guest buffers it names, as zero-copy
 * little-endian views of guest memory. Device-readable segments come first, device-writable
 * ones after (the transport refuses other orders).
 */
public final class DescriptorChain {
    private final int head;
    private final List<ByteBuffer> readable;
    private final List<ByteBuffer> writable;
    private final long readableLength;
    private final long writableLength;

    DescriptorChain(int head, List<ByteBuffer> readable, List<ByteBuffer> writable) {
        this.head = head;
        this.readable = List.copyOf(readable);
        this.writable = List.copyOf(writable);
        this.readableLength = total(readable);
        this.writableLength = total(writable);
    }

    private static long total(List<ByteBuffer> buffers) {
        long sum = 0;
        for (ByteBuffer b : buffers) {
            sum += b.remaining();
        }
        return sum;
    }

    public int head() {
        return head;
    }

    public List<ByteBuffer> readable() {
        return readable;
    }

    public List<ByteBuffer> writable() {
        return writable;
    }

    public long readableLength() {
        return readableLength;
    }

    public long writableLength() {
        return writableLength;
    }

    /** Views of bytes [from, from+length) of the readable part, split at segment boundaries. */
    public List<ByteBuffer> readableRange(long from, long length) {
        return range(readable, from, length);
    }

    /** Views of bytes [from, from+length) of the writable part, split at segment boundaries. */
    public List<ByteBuffer> writableRange(long from, long length) {
        return range(writable, from, length);
    }

    /** Copies up to dst.remaining() bytes of the readable part starting at {@code from}. */
    public void copyFromReadable(long from, ByteBuffer dst) {
        for (ByteBuffer part : readableRange(from, Math.min(dst.remaining(), Math.max(0, readableLength - from)))) {
            dst.put(part);
        }
    }

    /** Copies src into the writable part starting at {@code from}; returns the bytes written. */
    public int copyToWritable(long from, ByteBuffer src) {
        int n = 0;
        for (ByteBuffer part : writableRange(from, Math.min(src.remaining(), Math.max(0, writableLength - from)))) {
            int len = part.remaining();
            ByteBuffer chunk = src.slice(src.position(), len);
            part.put(chunk);
            src.position(src.position() + len);
            n += len;
        }
        return n;
    }

    private static List<ByteBuffer> range(List<ByteBuffer> buffers, long from, long length) {
        if (from < 0 || length < 0) {
            throw new IllegalArgumentException("negative range");
        }
        List<ByteBuffer> out = new ArrayList<>();
        long skip = from;
        long left = length;
        for (ByteBuffer b : buffers) {
            if (left == 0) {
                break;
            }
            int size = b.remaining();
            if (skip >= size) {
                skip -= size;
                continue;
            }
            int take = (int) Math.min(size - skip, left);
            out.add(b.slice(b.position() + (int) skip, take).order(b.order()));
            left -= take;
            skip = 0;
        }
        if (left != 0) {
            throw new IllegalArgumentException("range [" + from + ", +" + length + ") exceeds the chain's buffers");
        }
        return out;
    }

    @Override
    public String toString() {
        return "chain(head=" + head + ", readable=" + readableLength + "B/" + readable.size()
                + ", writable=" + writableLength + "B/" + writable.size() + ")";
    }
}
