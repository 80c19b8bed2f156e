package io.jvmm.emulator.kvm;

import java.nio.ByteBuffer;

/**
 * A segment register as KVM holds it ({@code struct kvm_segment}, 24 bytes): the hidden
 * descriptor cache, not just the selector. {@code type} is the 4-bit descriptor type,
 * {@code s} distinguishes code/data (true) from system segments.
 */
public record Segment(long base, int limit, int selector, int type, boolean present, int dpl, boolean db,
                      boolean s, boolean l, boolean g, boolean avl, boolean unusable) {
    static final int SIZE = 24;

    /** A flat 64-bit ring-0 code segment (execute/read, accessed), as a GDT entry 0x00af9b000000ffff. */
    public static Segment code64(int selector) {
        return new Segment(0, 0xFFFFFFFF, selector, 0xB, true, 0, false, true, true, true, false, false);
    }

    /** A flat 4 GiB ring-0 data segment (read/write, accessed), as a GDT entry 0x00cf93000000ffff. */
    public static Segment data(int selector) {
        return new Segment(0, 0xFFFFFFFF, selector, 0x3, true, 0, true, true, false, true, false, false);
    }

    /** A busy 64-bit TSS (system type 11), which VMX requires in TR even if never used. */
    public static Segment tss(int selector, long base, int limit) {
        return new Segment(base, limit, selector, 0xB, true, 0, false, false, false, false, false, false);
    }

    static Segment decode(ByteBuffer b, int at) {
        return new Segment(b.getLong(at), b.getInt(at + 8), b.getShort(at + 12) & 0xFFFF, b.get(at + 14) & 0xFF,
                b.get(at + 15) != 0, b.get(at + 16) & 0xFF, b.get(at + 17) != 0, b.get(at + 18) != 0,
                b.get(at + 19) != 0, b.get(at + 20) != 0, b.get(at + 21) != 0, b.get(at + 22) != 0);
    }

    void encode(ByteBuffer b, int at) {
        b.putLong(at, base);
        b.putInt(at + 8, limit);
        b.putShort(at + 12, (short) selector);
        b.put(at + 14, (byte) type);
        b.put(at + 15, flag(present));
        b.put(at + 16, (byte) dpl);
        b.put(at + 17, flag(db));
        b.put(at + 18, flag(s));
        b.put(at + 19, flag(l));
        b.put(at + 20, flag(g));
        b.put(at + 21, flag(avl));
        b.put(at + 22, flag(unusable));
        b.put(at + 23, (byte) 0);
    }

    private static byte flag(boolean v) {
        return (byte) (v ? 1 : 0);
    }

    @Override
    public String toString() {
        return String.format("sel=0x%04x base=0x%x limit=0x%x type=%d%s dpl=%d%s%s%s%s%s", selector, base,
                Integer.toUnsignedLong(limit), type, s ? "" : " sys", dpl, present ? " P" : " !P", l ? " L" : "",
                db ? " DB" : "", g ? " G" : "", unusable ? " unusable" : "");
    }
}
