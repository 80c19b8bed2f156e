package io.jvmm.virtio.queue;

import io.jvmm.pci.mem.GuestMemory;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * One request taken from a virtqueue: its head index and the guest buffers it names.
 * Device-readable segments come first, device-writable ones after (the transport refuses other
 * orders). Each segment is a guest-physical (address, length) checked to lie inside guest memory;
 * {@link #readable()} and {@link #writable()} give zero-copy little-endian views of them, made
 * when first asked for.
 *
 * <p>A queue keeps one chain object per descriptor head and fills it again when the driver
 * publishes that head again, so taking a chain allocates nothing: a chain is valid from
 * {@link SplitVirtqueue#pop} until it is {@linkplain SplitVirtqueue#push pushed} back, and must
 * not be used after that.
 */
public final class DescriptorChain {
    private final GuestMemory memory;
    private int head;
    private int readableCount;
    private int writableCount;
    private long[] addresses = new long[4];   // readable segments first, then writable ones
    private int[] lengths = new int[4];
    private long readableLength;
    private long writableLength;
    private List<ByteBuffer> readableViews;
    private List<ByteBuffer> writableViews;

    DescriptorChain(GuestMemory memory) {
        this.memory = memory;
    }

    /** Starts filling this chain for {@code head}; the previous contents are forgotten. */
    void reset(int newHead) {
        head = newHead;
        readableCount = 0;
        writableCount = 0;
        readableLength = 0;
        writableLength = 0;
        readableViews = null;
        writableViews = null;
    }

    /** Appends a checked segment (readable ones must all come before writable ones: the ring checks that). */
    void add(long address, int length, boolean writable) {
        int n = readableCount + writableCount;
        if (n == addresses.length) {   // only for a chain longer than any this head had before
            addresses = Arrays.copyOf(addresses, n * 2);
            lengths = Arrays.copyOf(lengths, n * 2);
        }
        addresses[n] = address;
        lengths[n] = length;
        if (writable) {
            writableCount++;
            writableLength += length;
        } else {
            readableCount++;
            readableLength += length;
        }
    }

    public int head() {
        return head;
    }

    /** Number of device-readable segments. */
    public int readableCount() {
        return readableCount;
    }

    /** Number of device-writable segments. */
    public int writableCount() {
        return writableCount;
    }

    /** Guest-physical address of readable segment {@code i}. */
    public long readableAddress(int i) {
        return addresses[checkIndex(i, readableCount)];
    }

    /** Length in bytes of readable segment {@code i}. */
    public int readableSize(int i) {
        return lengths[checkIndex(i, readableCount)];
    }

    /** Guest-physical address of writable segment {@code i}. */
    public long writableAddress(int i) {
        return addresses[readableCount + checkIndex(i, writableCount)];
    }

    /** Length in bytes of writable segment {@code i}. */
    public int writableSize(int i) {
        return lengths[readableCount + checkIndex(i, writableCount)];
    }

    private static int checkIndex(int i, int count) {
        if (i < 0 || i >= count) {
            throw new IndexOutOfBoundsException("segment " + i + " of " + count);
        }
        return i;
    }

    /** Zero-copy views of the readable segments (made on first use). */
    public List<ByteBuffer> readable() {
        if (readableViews == null) {
            readableViews = views(0, readableCount);
        }
        return readableViews;
    }

    /** Zero-copy views of the writable segments (made on first use). */
    public List<ByteBuffer> writable() {
        if (writableViews == null) {
            writableViews = views(readableCount, writableCount);
        }
        return writableViews;
    }

    private List<ByteBuffer> views(int first, int count) {
        ByteBuffer[] v = new ByteBuffer[count];
        for (int i = 0; i < count; i++) {
            v[i] = memory.slice(addresses[first + i], lengths[first + i]);
        }
        return List.of(v);
    }

    public long readableLength() {
        return readableLength;
    }

    public long writableLength() {
        return writableLength;
    }

    /** Views of bytes [from, from+length) of the readable part, split at segment boundaries. */
    public List<ByteBuffer> readableRange(long from, long length) {
        return range(0, readableCount, from, length);
    }

    /** Views of bytes [from, from+length) of the writable part, split at segment boundaries. */
    public List<ByteBuffer> writableRange(long from, long length) {
        return range(readableCount, writableCount, from, length);
    }

    /**
     * Copies up to dst.remaining() bytes of the readable part starting at {@code from} into dst,
     * advancing its position. Allocates nothing.
     */
    public void copyFromReadable(long from, ByteBuffer dst) {
        long left = Math.min(dst.remaining(), Math.max(0, readableLength - from));
        long skip = from;
        int saved = dst.limit();
        try {
            for (int i = 0; i < readableCount && left > 0; i++) {
                int size = lengths[i];
                if (skip >= size) {
                    skip -= size;
                    continue;
                }
                int take = (int) Math.min(size - skip, left);
                dst.limit(dst.position() + take);
                memory.read(addresses[i] + skip, dst);
                left -= take;
                skip = 0;
            }
        } finally {
            dst.limit(saved);
        }
    }

    /** Copies src into the writable part starting at {@code from}; returns the bytes written. Allocates nothing. */
    public int copyToWritable(long from, ByteBuffer src) {
        long left = Math.min(src.remaining(), Math.max(0, writableLength - from));
        long skip = from;
        int n = 0;
        int saved = src.limit();
        try {
            for (int i = readableCount; i < readableCount + writableCount && left > 0; i++) {
                int size = lengths[i];
                if (skip >= size) {
                    skip -= size;
                    continue;
                }
                int take = (int) Math.min(size - skip, left);
                src.limit(src.position() + take);
                memory.write(addresses[i] + skip, src);
                left -= take;
                n += take;
                skip = 0;
            }
        } finally {
            src.limit(saved);
        }
        return n;
    }

    private List<ByteBuffer> range(int first, int count, long from, long length) {
        if (from < 0 || length < 0) {
            throw new IllegalArgumentException("negative range");
        }
        List<ByteBuffer> out = new ArrayList<>();
        long skip = from;
        long left = length;
        for (int i = first; i < first + count && left > 0; i++) {
            int size = lengths[i];
            if (skip >= size) {
                skip -= size;
                continue;
            }
            int take = (int) Math.min(size - skip, left);
            out.add(memory.slice(addresses[i] + skip, take));
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
        return "chain(head=" + head + ", readable=" + readableLength + "B/" + readableCount
                + ", writable=" + writableLength + "B/" + writableCount + ")";
    }
}
