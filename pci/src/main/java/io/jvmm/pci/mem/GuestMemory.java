package io.jvmm.pci.mem;

import io.jvmm.chardev.SharedMemory;

import java.io.IOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * Guest-physical memory: a set of non-overlapping regions, each over a {@link SharedMemory}
 * mapping. Every access is bounds-checked before native memory is touched, so a guest address
 * outside memory (or straddling two regions) is a {@link GuestMemoryException}, never a crash.
 *
 * <p>All values are little-endian, as on x86 and in virtio. The region list is an immutable
 * snapshot swapped on (rare) changes, so accesses from vCPU, device and back-end threads take no
 * lock. Removing a region does not unmap it: its owner closes the mapping once nobody uses it.
 */
public final class GuestMemory {
    static final long PAGE = 4096;
    private static final VarHandle SHORT = MethodHandles.byteBufferViewVarHandle(short[].class, ByteOrder.LITTLE_ENDIAN);
    private static final VarHandle INT = MethodHandles.byteBufferViewVarHandle(int[].class, ByteOrder.LITTLE_ENDIAN);

    private volatile MemoryRegion[] regions = new MemoryRegion[0];

    /** Guest memory with one RAM region of {@code size} bytes at guest address 0. */
    public static GuestMemory ofRam(String name, long size) {
        GuestMemory memory = new GuestMemory();
        memory.addRegion(name, 0, SharedMemory.create(name, size));
        return memory;
    }

    /** Adds a region; page alignment is required and overlap is refused. */
    public synchronized MemoryRegion addRegion(String name, long base, SharedMemory memory) {
        if (base < 0 || (base & (PAGE - 1)) != 0 || (memory.size() & (PAGE - 1)) != 0 || memory.size() == 0) {
            throw new IllegalArgumentException(String.format(
                    "guest memory region %s at 0x%x size 0x%x: base and size must be non-zero multiples of 4 KiB",
                    name, base, memory.size()));
        }
        MemoryRegion added = new MemoryRegion(name, base, memory);
        for (MemoryRegion r : regions) {
            if (added.base() < r.end() && r.base() < added.end()) {
                throw new IllegalArgumentException("guest memory region " + added + " overlaps " + r);
            }
        }
        MemoryRegion[] next = Arrays.copyOf(regions, regions.length + 1);
        next[regions.length] = added;
        Arrays.sort(next, Comparator.comparingLong(MemoryRegion::base));
        regions = next;
        return added;
    }

    /** Removes the region starting at {@code base}; returns it (its mapping stays open). */
    public synchronized MemoryRegion removeRegion(long base) {
        List<MemoryRegion> next = new ArrayList<>(List.of(regions));
        MemoryRegion found = next.stream().filter(r -> r.base() == base).findFirst()
                .orElseThrow(() -> new IllegalArgumentException(String.format("no guest memory region at 0x%x", base)));
        next.remove(found);
        regions = next.toArray(new MemoryRegion[0]);
        return found;
    }

    public List<MemoryRegion> regions() {
        return List.of(regions);
    }

    /** Total bytes of guest memory. */
    public long size() {
        long total = 0;
        for (MemoryRegion r : regions) {
            total += r.size();
        }
        return total;
    }

    /** Whether [address, address+length) lies inside one region. */
    public boolean isValid(long address, long length) {
        return find(address, length) != null;
    }

    /** Closes every region's mapping. Only when no device can touch memory any more. */
    public synchronized void close() {
        for (MemoryRegion r : regions) {
            r.memory().close();
        }
        regions = new MemoryRegion[0];
    }

    // ---- scalar access -------------------------------------------------------------------
    // Each access finds its region once, then uses the region's cached 1 GiB window; the rare
    // access that crosses a window boundary goes through a one-off slice.

    public int read8(long address) {
        MemoryRegion r = region(address, 1);
        long off = address - r.base();
        return Byte.toUnsignedInt(windowOf(r, off).get(index(off)));
    }

    public int read16(long address) {
        MemoryRegion r = region(address, 2);
        long off = address - r.base();
        return (crosses(off, 2) ? r.memory().slice(off, 2).getShort(0) : windowOf(r, off).getShort(index(off))) & 0xffff;
    }

    public int read32(long address) {
        MemoryRegion r = region(address, 4);
        long off = address - r.base();
        return crosses(off, 4) ? r.memory().slice(off, 4).getInt(0) : windowOf(r, off).getInt(index(off));
    }

    public long read64(long address) {
        MemoryRegion r = region(address, 8);
        long off = address - r.base();
        return crosses(off, 8) ? r.memory().slice(off, 8).getLong(0) : windowOf(r, off).getLong(index(off));
    }

    public void write8(long address, int value) {
        MemoryRegion r = region(address, 1);
        long off = address - r.base();
        windowOf(r, off).put(index(off), (byte) value);
    }

    public void write16(long address, int value) {
        MemoryRegion r = region(address, 2);
        long off = address - r.base();
        if (crosses(off, 2)) {
            r.memory().slice(off, 2).putShort(0, (short) value);
        } else {
            windowOf(r, off).putShort(index(off), (short) value);
        }
    }

    public void write32(long address, int value) {
        MemoryRegion r = region(address, 4);
        long off = address - r.base();
        if (crosses(off, 4)) {
            r.memory().slice(off, 4).putInt(0, value);
        } else {
            windowOf(r, off).putInt(index(off), value);
        }
    }

    public void write64(long address, long value) {
        MemoryRegion r = region(address, 8);
        long off = address - r.base();
        if (crosses(off, 8)) {
            r.memory().slice(off, 8).putLong(0, value);
        } else {
            windowOf(r, off).putLong(index(off), value);
        }
    }

    // ---- ordered access for ring indices ---------------------------------------------------
    // Natural alignment is required: it keeps the access inside one window and atomic.

    /** A 16-bit read with acquire ordering (virtio: the avail/used index). Needs 2-byte alignment. */
    public int read16Acquire(long address) {
        aligned(address, 2);
        MemoryRegion r = region(address, 2);
        long off = address - r.base();
        return ((short) SHORT.getAcquire(windowOf(r, off), index(off))) & 0xffff;
    }

    /** A 16-bit write with release ordering: everything written before is visible first. */
    public void write16Release(long address, int value) {
        aligned(address, 2);
        MemoryRegion r = region(address, 2);
        long off = address - r.base();
        SHORT.setRelease(windowOf(r, off), index(off), (short) value);
    }

    /** A 32-bit read with acquire ordering. Needs 4-byte alignment. */
    public int read32Acquire(long address) {
        aligned(address, 4);
        MemoryRegion r = region(address, 4);
        long off = address - r.base();
        return (int) INT.getAcquire(windowOf(r, off), index(off));
    }

    /** A 32-bit write with release ordering. Needs 4-byte alignment. */
    public void write32Release(long address, int value) {
        aligned(address, 4);
        MemoryRegion r = region(address, 4);
        long off = address - r.base();
        INT.setRelease(windowOf(r, off), index(off), value);
    }

    /** A full fence: orders an index write before a following flag/event read (virtio EVENT_IDX). */
    public static void fullFence() {
        VarHandle.fullFence();
    }

    // ---- bulk access -------------------------------------------------------------------------

    /**
     * A zero-copy, little-endian view of [address, address+length). Writes through it are guest
     * writes. The range must lie inside one region.
     */
    public ByteBuffer slice(long address, int length) {
        if (length < 0) {
            throw new GuestMemoryException(address, length, "negative length");
        }
        MemoryRegion r = region(address, length);
        long offset = address - r.base();
        long windowStart = offset & ~(SharedMemory.WINDOW_SIZE - 1);
        if (offset + length <= windowStart + SharedMemory.WINDOW_SIZE) {
            ByteBuffer w = r.memory().window((int) (offset / SharedMemory.WINDOW_SIZE));
            return w.slice((int) (offset - windowStart), length).order(ByteOrder.LITTLE_ENDIAN);
        }
        return r.memory().slice(offset, length);
    }

    /**
     * Copies dst.remaining() bytes from guest memory into dst, advancing dst's position. Allocates
     * nothing unless the range crosses a 1 GiB window (a request's hot path uses this).
     */
    public void read(long address, ByteBuffer dst) {
        int length = dst.remaining();
        MemoryRegion r = region(address, length);
        long offset = address - r.base();
        if (length > 0 && !crosses(offset, length)) {
            int at = dst.position();
            dst.put(at, windowOf(r, offset), index(offset), length);
            dst.position(at + length);
            return;
        }
        dst.put(slice(address, length));
    }

    /** Copies src.remaining() bytes from src into guest memory, advancing src's position (no allocation within a window). */
    public void write(long address, ByteBuffer src) {
        int length = src.remaining();
        MemoryRegion r = region(address, length);
        long offset = address - r.base();
        if (length > 0 && !crosses(offset, length)) {
            int at = src.position();
            windowOf(r, offset).put(index(offset), src, at, length);
            src.position(at + length);
            return;
        }
        slice(address, length).put(src);
    }

    /**
     * The host virtual address of guest range [address, address+length), which must lie inside
     * one region: for handing guest buffers to a system call (preadv) with no copy and no object.
     * Valid while the region stays mapped (its owner quiesces the devices before unmapping).
     *
     * @throws GuestMemoryException if the range is outside memory or straddles two regions
     */
    public long hostAddress(long address, long length) {
        MemoryRegion r = region(address, length);
        return r.memory().address() + (address - r.base());
    }

    public void read(long address, byte[] dst, int offset, int length) {
        slice(address, length).get(dst, offset, length);
    }

    public void write(long address, byte[] src, int offset, int length) {
        slice(address, length).put(src, offset, length);
    }

    /** Reads {@code length} bytes at {@code filePosition} of a file straight into guest memory. */
    public void readFromFile(FileChannel file, long filePosition, long address, int length) throws IOException {
        ByteBuffer view = slice(address, length);
        while (view.hasRemaining()) {
            int n = file.read(view, filePosition + view.position());
            if (n < 0) {
                throw new IOException(String.format("end of file at offset %d reading %d bytes into guest 0x%x",
                        filePosition + view.position(), length, address));
            }
        }
    }

    /** Writes {@code length} bytes of guest memory straight to a file at {@code filePosition}. */
    public void writeToFile(FileChannel file, long filePosition, long address, int length) throws IOException {
        ByteBuffer view = slice(address, length);
        while (view.hasRemaining()) {
            file.write(view, filePosition + view.position());
        }
    }

    /** Where a guest address lives on the host (for back-ends in other processes and for KVM). */
    public HostLocation translate(long address) {
        MemoryRegion r = region(address, 1);
        long offset = address - r.base();
        SharedMemory m = r.memory();
        return new HostLocation(m, m.fd(), m.fdOffset() + offset, m.address() + offset, r.size() - offset);
    }

    // ---- internals -------------------------------------------------------------------------

    private MemoryRegion find(long address, long length) {
        MemoryRegion[] rs = regions;
        int lo = 0;
        int hi = rs.length - 1;
        while (lo <= hi) {   // the last region whose base <= address
            int mid = (lo + hi) >>> 1;
            if (rs[mid].base() <= address) {
                lo = mid + 1;
            } else {
                hi = mid - 1;
            }
        }
        if (hi < 0) {
            return null;
        }
        MemoryRegion r = rs[hi];
        return r.contains(address, length) ? r : null;
    }

    private MemoryRegion region(long address, long length) {
        MemoryRegion r = find(address, length);
        if (r == null) {
            MemoryRegion start = find(address, 1);
            throw new GuestMemoryException(address, length, start == null
                    ? "outside guest memory" : "runs past the end of region " + start);
        }
        return r;
    }

    private static ByteBuffer windowOf(MemoryRegion r, long offset) {
        return r.memory().window((int) (offset / SharedMemory.WINDOW_SIZE));
    }

    private static int index(long offset) {
        return (int) (offset & (SharedMemory.WINDOW_SIZE - 1));
    }

    private static boolean crosses(long offset, int length) {
        return index(offset) + length > SharedMemory.WINDOW_SIZE;
    }

    private static void aligned(long address, int size) {
        if ((address & (size - 1)) != 0) {
            throw new GuestMemoryException(address, size, "ordered access must be naturally aligned");
        }
    }
}
