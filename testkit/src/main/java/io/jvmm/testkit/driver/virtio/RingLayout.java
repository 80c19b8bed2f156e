package io.jvmm.testkit.driver.virtio;

/**
 * Where the three parts of a split ring of {@code size} entries sit in one page-aligned block
 * (virtio 1.x, 2.7): descriptor table (16-byte aligned, 16 bytes per entry), available ring
 * (flags, idx, ring[size], used_event) and used ring (4-byte aligned: flags, idx,
 * ring[size] of {id, len}, avail_event). A size-0 ring still gets room for one entry so that
 * its addresses are valid.
 */
public record RingLayout(int size, long desc, long avail, long used, long bytes) {
    public static RingLayout of(int size, long base) {
        long entries = Math.max(size, 1);
        long desc = base;
        long avail = desc + 16 * entries;
        long used = (avail + 6 + 2 * entries + 3) & ~3L;
        long end = used + 6 + 8 * entries;
        return new RingLayout(size, desc, avail, used, end - base);
    }

    /** Bytes a ring of {@code size} entries needs. */
    public static long bytesFor(int size) {
        return of(size, 0).bytes();
    }

    long availIdx() {
        return avail + 2;
    }

    long availRing(int slot) {
        return avail + 4 + 2L * slot;
    }

    long usedEvent() {
        return avail + 4 + 2L * size;
    }

    long usedIdx() {
        return used + 2;
    }

    long usedRing(int slot) {
        return used + 4 + 8L * slot;
    }

    long availEvent() {
        return used + 4 + 8L * size;
    }
}
