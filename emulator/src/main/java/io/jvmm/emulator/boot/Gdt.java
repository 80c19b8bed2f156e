package io.jvmm.emulator.boot;

import io.jvmm.pci.mem.GuestMemory;

/**
 * The GDT a vCPU starts with: flat 64-bit code, flat data and a TSS. Linux's 64-bit boot protocol
 * wants code at __BOOT_CS (0x10) and data at __BOOT_DS (0x18); our freestanding guest's contract
 * is code at 0x08 and data at 0x10. The two cannot share one table (0x10 would be both), so each
 * boot kind gets its own layout, written at {@link MemoryLayout#GDT_ADDR}.
 */
public final class Gdt {
    private final SegmentDescriptor code;
    private final SegmentDescriptor data;
    private final SegmentDescriptor tss;

    private Gdt(int codeSelector, int dataSelector, int tssSelector) {
        this.code = SegmentDescriptor.code64(codeSelector);
        this.data = SegmentDescriptor.data(dataSelector);
        this.tss = SegmentDescriptor.tss(tssSelector, MemoryLayout.TSS_ADDR, MemoryLayout.TSS_LIMIT);
    }

    /** null, null, code 0x10, data 0x18, TSS 0x20 (16 bytes). */
    public static Gdt forLinux() {
        return new Gdt(0x10, 0x18, 0x20);
    }

    /** null, code 0x08, data 0x10, TSS 0x18 (16 bytes). */
    public static Gdt forElf() {
        return new Gdt(0x08, 0x10, 0x18);
    }

    public SegmentDescriptor code() {
        return code;
    }

    public SegmentDescriptor data() {
        return data;
    }

    public SegmentDescriptor tss() {
        return tss;
    }

    /** The GDTR limit: last byte of the table. */
    public int limit() {
        return tss.selector() + tss.gdtSize() - 1;
    }

    /** Writes the table (unused slots zero) and a zeroed TSS page. */
    public void write(GuestMemory memory) {
        GuestMemoryUtil.zero(memory, MemoryLayout.GDT_ADDR, limit() + 1);
        memory.write64(MemoryLayout.GDT_ADDR + code.selector(), code.encode());
        memory.write64(MemoryLayout.GDT_ADDR + data.selector(), data.encode());
        memory.write64(MemoryLayout.GDT_ADDR + tss.selector(), tss.encode());
        memory.write64(MemoryLayout.GDT_ADDR + tss.selector() + 8, tss.encodeHigh());
        GuestMemoryUtil.zero(memory, MemoryLayout.TSS_ADDR, (int) MemoryLayout.PAGE);
    }
}
