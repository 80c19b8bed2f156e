package io.jvmm.emulator.kvm;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.Objects;

/**
 * The system registers of a vCPU: a mutable copy of {@code struct kvm_sregs} (312 bytes):
 * segment registers with their descriptor caches, GDTR/IDTR, control registers, EFER, the APIC
 * base MSR and the bitmap of pending external interrupts.
 */
public final class Sregs {
    static final int SIZE = 312;

    public static final long CR0_PE = 1L;
    public static final long CR0_MP = 1L << 1;
    public static final long CR0_ET = 1L << 4;
    public static final long CR0_NE = 1L << 5;
    public static final long CR0_WP = 1L << 16;
    public static final long CR0_PG = 1L << 31;
    public static final long CR4_PAE = 1L << 5;
    public static final long EFER_LME = 1L << 8;
    public static final long EFER_LMA = 1L << 10;

    private static final int CS = 0;
    private static final int DS = 24;
    private static final int ES = 48;
    private static final int FS = 72;
    private static final int GS = 96;
    private static final int SS = 120;
    private static final int TR = 144;
    private static final int LDT = 168;
    private static final int GDT = 192;
    private static final int IDT = 208;
    private static final int CR0 = 224;
    private static final int CR2 = 232;
    private static final int CR3 = 240;
    private static final int CR4 = 248;
    private static final int CR8 = 256;
    private static final int EFER = 264;
    private static final int APIC_BASE = 272;
    private static final int INTERRUPT_BITMAP = 280;

    private Segment cs;
    private Segment ds;
    private Segment es;
    private Segment fs;
    private Segment gs;
    private Segment ss;
    private Segment tr;
    private Segment ldt;
    private DescriptorTable gdt;
    private DescriptorTable idt;
    private long cr0;
    private long cr2;
    private long cr3;
    private long cr4;
    private long cr8;
    private long efer;
    private long apicBase;
    private final long[] interruptBitmap = new long[4];

    private Sregs() {
    }

    static Sregs decode(ByteBuffer b) {
        Sregs s = new Sregs();
        s.cs = Segment.decode(b, CS);
        s.ds = Segment.decode(b, DS);
        s.es = Segment.decode(b, ES);
        s.fs = Segment.decode(b, FS);
        s.gs = Segment.decode(b, GS);
        s.ss = Segment.decode(b, SS);
        s.tr = Segment.decode(b, TR);
        s.ldt = Segment.decode(b, LDT);
        s.gdt = DescriptorTable.decode(b, GDT);
        s.idt = DescriptorTable.decode(b, IDT);
        s.cr0 = b.getLong(CR0);
        s.cr2 = b.getLong(CR2);
        s.cr3 = b.getLong(CR3);
        s.cr4 = b.getLong(CR4);
        s.cr8 = b.getLong(CR8);
        s.efer = b.getLong(EFER);
        s.apicBase = b.getLong(APIC_BASE);
        for (int i = 0; i < 4; i++) {
            s.interruptBitmap[i] = b.getLong(INTERRUPT_BITMAP + 8 * i);
        }
        return s;
    }

    void encode(ByteBuffer b) {
        cs.encode(b, CS);
        ds.encode(b, DS);
        es.encode(b, ES);
        fs.encode(b, FS);
        gs.encode(b, GS);
        ss.encode(b, SS);
        tr.encode(b, TR);
        ldt.encode(b, LDT);
        gdt.encode(b, GDT);
        idt.encode(b, IDT);
        b.putLong(CR0, cr0);
        b.putLong(CR2, cr2);
        b.putLong(CR3, cr3);
        b.putLong(CR4, cr4);
        b.putLong(CR8, cr8);
        b.putLong(EFER, efer);
        b.putLong(APIC_BASE, apicBase);
        for (int i = 0; i < 4; i++) {
            b.putLong(INTERRUPT_BITMAP + 8 * i, interruptBitmap[i]);
        }
    }

    public Segment cs() {
        return cs;
    }

    public Sregs setCs(Segment v) {
        cs = Objects.requireNonNull(v);
        return this;
    }

    public Segment ds() {
        return ds;
    }

    public Sregs setDs(Segment v) {
        ds = Objects.requireNonNull(v);
        return this;
    }

    public Segment es() {
        return es;
    }

    public Sregs setEs(Segment v) {
        es = Objects.requireNonNull(v);
        return this;
    }

    public Segment fs() {
        return fs;
    }

    public Sregs setFs(Segment v) {
        fs = Objects.requireNonNull(v);
        return this;
    }

    public Segment gs() {
        return gs;
    }

    public Sregs setGs(Segment v) {
        gs = Objects.requireNonNull(v);
        return this;
    }

    public Segment ss() {
        return ss;
    }

    public Sregs setSs(Segment v) {
        ss = Objects.requireNonNull(v);
        return this;
    }

    public Segment tr() {
        return tr;
    }

    public Sregs setTr(Segment v) {
        tr = Objects.requireNonNull(v);
        return this;
    }

    public Segment ldt() {
        return ldt;
    }

    public Sregs setLdt(Segment v) {
        ldt = Objects.requireNonNull(v);
        return this;
    }

    /** Sets ds, es, fs, gs and ss to the same segment. */
    public Sregs setDataSegments(Segment v) {
        return setDs(v).setEs(v).setFs(v).setGs(v).setSs(v);
    }

    public DescriptorTable gdt() {
        return gdt;
    }

    public Sregs setGdt(DescriptorTable v) {
        gdt = Objects.requireNonNull(v);
        return this;
    }

    public DescriptorTable idt() {
        return idt;
    }

    public Sregs setIdt(DescriptorTable v) {
        idt = Objects.requireNonNull(v);
        return this;
    }

    public long cr0() {
        return cr0;
    }

    public Sregs setCr0(long v) {
        cr0 = v;
        return this;
    }

    public long cr2() {
        return cr2;
    }

    public Sregs setCr2(long v) {
        cr2 = v;
        return this;
    }

    public long cr3() {
        return cr3;
    }

    public Sregs setCr3(long v) {
        cr3 = v;
        return this;
    }

    public long cr4() {
        return cr4;
    }

    public Sregs setCr4(long v) {
        cr4 = v;
        return this;
    }

    public long cr8() {
        return cr8;
    }

    public Sregs setCr8(long v) {
        cr8 = v;
        return this;
    }

    public long efer() {
        return efer;
    }

    public Sregs setEfer(long v) {
        efer = v;
        return this;
    }

    public long apicBase() {
        return apicBase;
    }

    public Sregs setApicBase(long v) {
        apicBase = v;
        return this;
    }

    /** A copy of the 256-bit bitmap of external interrupts KVM holds pending for injection. */
    public long[] interruptBitmap() {
        return interruptBitmap.clone();
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof Sregs s)) {
            return false;
        }
        return cs.equals(s.cs) && ds.equals(s.ds) && es.equals(s.es) && fs.equals(s.fs) && gs.equals(s.gs)
                && ss.equals(s.ss) && tr.equals(s.tr) && ldt.equals(s.ldt) && gdt.equals(s.gdt) && idt.equals(s.idt)
                && cr0 == s.cr0 && cr2 == s.cr2 && cr3 == s.cr3 && cr4 == s.cr4 && cr8 == s.cr8 && efer == s.efer
                && apicBase == s.apicBase && Arrays.equals(interruptBitmap, s.interruptBitmap);
    }

    @Override
    public int hashCode() {
        return Objects.hash(cs, ss, gdt, idt, cr0, cr3, cr4, efer, apicBase);
    }

    @Override
    public String toString() {
        return String.format("cr0=0x%x cr2=0x%x cr3=0x%x cr4=0x%x cr8=0x%x efer=0x%x apic_base=0x%x%n"
                        + "cs: %s%nss: %s%nds: %s%nes: %s%nfs: %s%ngs: %s%ntr: %s%nldt: %s%ngdt: %s idt: %s",
                cr0, cr2, cr3, cr4, cr8, efer, apicBase, cs, ss, ds, es, fs, gs, tr, ldt, gdt, idt);
    }
}
