package io.jvmm.emulator.kvm;

import io.jvmm.pci.mem.GuestMemory;

/**
 * Entering 64-bit mode directly, as Firecracker and Cloud Hypervisor do for a 64-bit kernel entry
 * point: the VMM writes a flat GDT and identity-mapping page tables into guest memory and loads
 * the vCPU's system registers so that the first instruction already runs in long mode. (Under
 * PVM this is also the only fast path: guest ring-0 code is emulated instruction by instruction.)
 */
public final class LongModeSetup {
    public static final int CODE_SELECTOR = 0x08;
    public static final int DATA_SELECTOR = 0x10;
    public static final int TSS_SELECTOR = 0x18;
    /** Null, code, data, and a 16-byte 64-bit TSS descriptor. */
    public static final int GDT_SIZE = 40;

    private static final long ONE_GIB = 1L << 30;
    private static final long TWO_MIB = 1L << 21;
    private static final long PAGE = 4096;
    private static final long PRESENT_WRITABLE = 0x3;
    private static final long LARGE_PAGE = 0x80;
    private static final int TSS_LIMIT = 0x67;
    /** PE | MP | ET | NE | WP | PG: protected mode with paging, native FPU errors, write protect. */
    static final long CR0 = Sregs.CR0_PE | Sregs.CR0_MP | Sregs.CR0_ET | Sregs.CR0_NE | Sregs.CR0_WP | Sregs.CR0_PG;

    private LongModeSetup() {
    }

    /** Writes the GDT (see the selector constants) at {@code address}. */
    public static void writeGdt(GuestMemory memory, long address) {
        memory.write64(address, 0);
        memory.write64(address + 8, 0x00AF9B000000FFFFL);    // 64-bit code, DPL 0
        memory.write64(address + 16, 0x00CF93000000FFFFL);   // flat data, DPL 0
        memory.write64(address + 24, 0x00008B0000000000L | TSS_LIMIT);   // busy 64-bit TSS at 0
        memory.write64(address + 32, 0);
    }

    /** Guest pages {@link #writeIdentityPageTables} uses for {@code bytes} of address space. */
    public static int pageTablePages(long bytes) {
        requireGibMultiple(bytes);
        return 2 + (int) (bytes / ONE_GIB);
    }

    /**
     * Writes page tables that identity-map [0, bytes) with 2 MiB pages: the PML4 at
     * {@code pml4}, the PDPT in the next page and one page directory per GiB after it. Mapping
     * beyond RAM is harmless and lets the guest reach MMIO (the local APIC at 0xFEE00000 needs
     * 4 GiB).
     *
     * @return the first guest address after the tables
     */
    public static long writeIdentityPageTables(GuestMemory memory, long pml4, long bytes) {
        int pages = pageTablePages(bytes);
        if ((pml4 & (PAGE - 1)) != 0) {
            throw new IllegalArgumentException("page tables at 0x" + Long.toHexString(pml4) + " must be page-aligned");
        }
        if (!memory.isValid(pml4, pages * PAGE)) {
            throw new IllegalArgumentException(String.format("page tables at 0x%x (%d pages) do not fit in guest RAM",
                    pml4, pages));
        }
        long pdpt = pml4 + PAGE;
        long firstPd = pdpt + PAGE;
        memory.slice(pml4, 2 * (int) PAGE).put(new byte[2 * (int) PAGE]);
        memory.write64(pml4, pdpt | PRESENT_WRITABLE);
        int gibs = pages - 2;
        for (int g = 0; g < gibs; g++) {
            long pd = firstPd + g * PAGE;
            memory.write64(pdpt + 8L * g, pd | PRESENT_WRITABLE);
            for (int e = 0; e < 512; e++) {
                memory.write64(pd + 8L * e, (g * ONE_GIB + e * TWO_MIB) | PRESENT_WRITABLE | LARGE_PAGE);
            }
        }
        return pml4 + pages * PAGE;
    }

    /**
     * Loads the vCPU for 64-bit execution at {@code entry}: CS/DS/SS from the GDT at {@code gdt},
     * CR3 = {@code pml4}, PAE, LME/LMA, paging; rsp = {@code stack}, interrupts off. The IDT is
     * left empty (limit 0), so an exception before the guest installs its own is a clean triple
     * fault instead of a jump through garbage.
     */
    static void enter(KvmVcpu vcpu, long entry, long stack, long pml4, long gdt) {
        Sregs s = vcpu.getSregs();
        s.setCs(Segment.code64(CODE_SELECTOR))
                .setDataSegments(Segment.data(DATA_SELECTOR))
                .setTr(Segment.tss(TSS_SELECTOR, 0, TSS_LIMIT))
                .setGdt(new DescriptorTable(gdt, GDT_SIZE - 1))
                .setIdt(new DescriptorTable(0, 0))
                .setCr0(CR0)
                .setCr3(pml4)
                .setCr4(Sregs.CR4_PAE)
                .setEfer(Sregs.EFER_LME | Sregs.EFER_LMA);
        vcpu.setSregs(s);
        vcpu.setRegs(new Regs().setRip(entry).setRsp(stack));
    }

    private static void requireGibMultiple(long bytes) {
        if (bytes <= 0 || bytes % ONE_GIB != 0 || bytes > 512 * ONE_GIB) {
            throw new IllegalArgumentException("identity map size 0x" + Long.toHexString(bytes)
                    + " must be a positive multiple of 1 GiB up to 512 GiB");
        }
    }
}
