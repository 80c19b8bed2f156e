package io.jvmm.testkit.driver;

import java.util.BitSet;
import java.util.HashMap;
import java.util.Map;

/**
 * The guest's page allocator for rings and buffers: first-fit runs of 4 KiB pages inside
 * [{@code base}, {@code limit}) of guest RAM. Every allocation is page aligned, which satisfies
 * every virtio alignment (descriptor table 16, used ring 4) and keeps a buffer inside one RAM
 * region. Thread-safe (a guest may drive devices from several threads).
 */
public final class PageAllocator {
    public static final int PAGE = 4096;

    private final long base;
    private final int pages;
    private final BitSet used;
    private final Map<Long, Integer> allocations = new HashMap<>();
    private int freePages;

    /**
     * @throws IllegalArgumentException unless base and limit are page aligned and base < limit
     */
    public PageAllocator(long base, long limit) {
        if (base < 0 || base % PAGE != 0 || limit % PAGE != 0 || limit <= base || (limit - base) / PAGE > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(String.format("page allocator range [0x%x, 0x%x) must be page aligned and non-empty", base, limit));
        }
        this.base = base;
        this.pages = (int) ((limit - base) / PAGE);
        this.used = new BitSet(pages);
        this.freePages = pages;
    }

    /**
     * Allocates at least {@code bytes} (rounded up to whole pages), page aligned.
     *
     * @return the guest-physical address
     * @throws GuestDriverException when no run of free pages is large enough
     */
    public synchronized long allocate(long bytes) {
        if (bytes <= 0) {
            throw new IllegalArgumentException("allocation of " + bytes + " bytes: must be positive");
        }
        long wanted = (bytes + PAGE - 1) / PAGE;
        if (wanted > pages) {
            throw new GuestDriverException(String.format("guest out of memory: %d bytes wanted, only %d pages managed", bytes, pages));
        }
        int n = (int) wanted;
        int start = used.nextClearBit(0);
        while (start + n <= pages) {
            int nextUsed = used.nextSetBit(start);
            if (nextUsed < 0 || nextUsed >= start + n) {
                used.set(start, start + n);
                freePages -= n;
                long address = base + (long) start * PAGE;
                allocations.put(address, n);
                return address;
            }
            start = used.nextClearBit(nextUsed);
        }
        throw new GuestDriverException(String.format("guest out of memory: no run of %d free pages (%d of %d free)", n, freePages, pages));
    }

    /** Allocates and zeroes (a fresh ring must start with zero indices and flags). */
    public long allocateZeroed(GuestCpu cpu, long bytes) {
        long address = allocate(bytes);
        long length = (bytes + PAGE - 1) / PAGE * PAGE;
        byte[] zeroes = new byte[PAGE];
        for (long off = 0; off < length; off += PAGE) {
            cpu.memory().write(address + off, zeroes, 0, PAGE);
        }
        return address;
    }

    /**
     * Frees an allocation made here.
     *
     * @throws IllegalArgumentException naming the address if it is not the start of a live allocation
     */
    public synchronized void free(long address) {
        Integer n = allocations.remove(address);
        if (n == null) {
            throw new IllegalArgumentException(String.format("free of 0x%x: not the start of an allocation (double free?)", address));
        }
        int start = (int) ((address - base) / PAGE);
        used.clear(start, start + n);
        freePages += n;
    }

    public synchronized int freePages() {
        return freePages;
    }

    public int totalPages() {
        return pages;
    }
}
