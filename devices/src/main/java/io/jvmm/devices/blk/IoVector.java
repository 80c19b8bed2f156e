package io.jvmm.devices.blk;

import com.kenai.jffi.MemoryIO;
import io.jvmm.chardev.nativ.LinuxConstants;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * A reusable native {@code struct iovec} array: the host addresses and lengths of a request's
 * guest buffers, for a backend's {@code preadv2}/{@code pwritev2} straight into or out of guest
 * memory with no copy and no object per request. Filled and used on one thread (the device's
 * context); holds at most {@link LinuxConstants#IOV_MAX} entries.
 */
public final class IoVector {
    private static final int ENTRY = 16;

    private final ByteBuffer entries;
    private final long address;
    private final int capacity;
    private int count;
    private long bytes;

    /** Room for {@code capacity} buffers (at most IOV_MAX). */
    public IoVector(int capacity) {
        if (capacity < 1 || capacity > LinuxConstants.IOV_MAX) {
            throw new IllegalArgumentException("an I/O vector holds 1.." + LinuxConstants.IOV_MAX + " buffers, not " + capacity);
        }
        this.capacity = capacity;
        this.entries = ByteBuffer.allocateDirect(capacity * ENTRY).order(ByteOrder.nativeOrder());
        this.address = MemoryIO.getInstance().getDirectBufferAddress(entries);
    }

    /** Empties the vector. */
    public void clear() {
        count = 0;
        bytes = 0;
    }

    /** Appends a buffer of {@code length} bytes at host address {@code hostAddress}; false if it is full. */
    public boolean add(long hostAddress, int length) {
        if (count == capacity) {
            return false;
        }
        entries.putLong(count * ENTRY, hostAddress);
        entries.putLong(count * ENTRY + 8, length);
        count++;
        bytes += length;
        return true;
    }

    /** The native address of the iovec array. */
    public long address() {
        return address;
    }

    public int count() {
        return count;
    }

    /** Total bytes of the buffers. */
    public long bytes() {
        return bytes;
    }

    public int capacity() {
        return capacity;
    }
}
