package io.jvmm.emulator.boot;

import io.jvmm.pci.mem.GuestMemory;

/**
 * Identity page tables for the first 4 GiB with 2 MiB pages: one PML4 entry, four PDPT entries and
 * four page directories of 512 large pages each. 2 MiB pages rather than 1 GiB ones because every
 * x86-64 CPU has them (1 GiB pages need the pdpe1gb CPUID bit, which a nested or PVM host may hide).
 * The PCI hole, IOAPIC and LAPIC are mapped too (write-back; KVM keeps MMIO uncached on its side).
 */
public final class PageTables {
    static final long PRESENT = 1;
    static final long WRITABLE = 1 << 1;
    static final long LARGE = 1 << 7;
    static final long LARGE_PAGE = 2 * MemoryLayout.MIB;
    static final int ENTRIES = 512;
    /** Everything below this is mapped virtual == physical. */
    public static final long IDENTITY_LIMIT = MemoryLayout.PD_COUNT * MemoryLayout.GIB;

    private PageTables() {
    }

    /** Writes the tables at their fixed addresses; returns the CR3 value. */
    public static long write(GuestMemory memory) {
        GuestMemoryUtil.zero(memory, MemoryLayout.PML4_ADDR, MemoryLayout.PAGE);
        GuestMemoryUtil.zero(memory, MemoryLayout.PDPT_ADDR, MemoryLayout.PAGE);
        memory.write64(MemoryLayout.PML4_ADDR, MemoryLayout.PDPT_ADDR | PRESENT | WRITABLE);
        for (int d = 0; d < MemoryLayout.PD_COUNT; d++) {
            long pd = MemoryLayout.PD_ADDR + d * MemoryLayout.PAGE;
            memory.write64(MemoryLayout.PDPT_ADDR + 8L * d, pd | PRESENT | WRITABLE);
            for (int i = 0; i < ENTRIES; i++) {
                long physical = d * MemoryLayout.GIB + i * LARGE_PAGE;
                memory.write64(pd + 8L * i, physical | PRESENT | WRITABLE | LARGE);
            }
        }
        return MemoryLayout.PML4_ADDR;
    }
}
