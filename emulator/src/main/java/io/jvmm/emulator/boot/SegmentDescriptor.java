package io.jvmm.emulator.boot;

/**
 * A segment as the vCPU holds it (the hidden part KVM's struct kvm_segment carries) and as the GDT
 * stores it. {@code limit} is the byte-granular effective limit (0xffffffff for a flat 4 GiB
 * segment with {@code g} set), as KVM expects it; {@link #encode()} scales it back for the GDT.
 *
 * @param type     the 4-bit type field (0xb: code execute/read accessed; 0x3: data read/write
 *                 accessed; 0xb with {@code s} false: busy 64-bit TSS)
 * @param s        true for code/data, false for system segments (TSS)
 * @param db       default operation size 32 bits (must be false for 64-bit code)
 * @param l        64-bit code segment
 * @param g        limit counted in 4 KiB units
 */
public record SegmentDescriptor(long base, long limit, int selector, int type, boolean present, int dpl,
                                boolean db, boolean s, boolean l, boolean g) {
    public static final int TYPE_CODE_EXEC_READ_ACCESSED = 0xB;
    public static final int TYPE_DATA_READ_WRITE_ACCESSED = 0x3;
    public static final int TYPE_TSS64_BUSY = 0xB;
    private static final long FLAT_LIMIT = 0xFFFF_FFFFL;

    public SegmentDescriptor {
        if (type < 0 || type > 0xF || dpl < 0 || dpl > 3 || selector < 0 || selector > 0xFFFF) {
            throw new IllegalArgumentException(String.format("segment descriptor: type %d dpl %d selector 0x%x", type, dpl, selector));
        }
        if (g && (limit & 0xFFF) != 0xFFF) {
            throw new IllegalArgumentException(String.format("segment limit 0x%x with g set must end in 0xfff", limit));
        }
    }

    /** Flat 64-bit ring-0 code. */
    public static SegmentDescriptor code64(int selector) {
        return new SegmentDescriptor(0, FLAT_LIMIT, selector, TYPE_CODE_EXEC_READ_ACCESSED, true, 0, false, true, true, true);
    }

    /** Flat ring-0 read/write data (also used for the stack segment). */
    public static SegmentDescriptor data(int selector) {
        return new SegmentDescriptor(0, FLAT_LIMIT, selector, TYPE_DATA_READ_WRITE_ACCESSED, true, 0, true, true, false, true);
    }

    /** A busy 64-bit TSS (what TR must hold at VM entry). */
    public static SegmentDescriptor tss(int selector, long base, long limit) {
        return new SegmentDescriptor(base, limit, selector, TYPE_TSS64_BUSY, true, 0, false, false, false, false);
    }

    /** The first (for code/data the only) 8 bytes of this descriptor in GDT format. */
    public long encode() {
        long rawLimit = g ? limit >>> 12 : limit;
        if (rawLimit > 0xFFFFF) {
            throw new IllegalArgumentException(String.format("segment limit 0x%x does not fit 20 bits", limit));
        }
        long access = type | (s ? 0x10 : 0) | ((long) dpl << 5) | (present ? 0x80 : 0);
        long flags = (l ? 0x2 : 0) | (db ? 0x4 : 0) | (g ? 0x8 : 0);
        return (rawLimit & 0xFFFF)
                | (base & 0xFF_FFFFL) << 16
                | access << 40
                | ((rawLimit >>> 16) & 0xF) << 48
                | flags << 52
                | ((base >>> 24) & 0xFF) << 56;
    }

    /** The upper 8 bytes of a 16-byte system descriptor (TSS): base bits 32-63. */
    public long encodeHigh() {
        return base >>> 32;
    }

    /** How many bytes this descriptor takes in the GDT: 16 for a 64-bit system segment. */
    public int gdtSize() {
        return s ? 8 : 16;
    }
}
