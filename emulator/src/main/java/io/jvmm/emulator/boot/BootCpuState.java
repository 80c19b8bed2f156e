package io.jvmm.emulator.boot;

/**
 * Everything one vCPU needs to start in 64-bit mode, as plain values the machine turns into KVM
 * register state (kvm_regs, kvm_sregs). Segment registers: CS = {@code code}; DS, ES, FS, GS and
 * SS = {@code data}; TR = {@code tss}; LDTR unusable.
 *
 * @param index vCPU index (also its APIC id)
 */
public record BootCpuState(int index, long rip, long rsp, long rsi, long rdi, long rdx, long rflags,
                           long cr0, long cr3, long cr4, long efer,
                           long gdtBase, int gdtLimit, long idtBase, int idtLimit,
                           SegmentDescriptor code, SegmentDescriptor data, SegmentDescriptor tss) {
    /** Bit 1 of RFLAGS is always set; IF clear: interrupts off at entry. */
    public static final long RFLAGS_RESERVED = 0x2;
    public static final long CR0_PE = 1L;
    public static final long CR0_ET = 1L << 4;
    public static final long CR0_NE = 1L << 5;
    public static final long CR0_PG = 1L << 31;
    public static final long CR4_PAE = 1L << 5;
    public static final long EFER_LME = 1L << 8;
    public static final long EFER_LMA = 1L << 10;

    /** A vCPU in long mode with paging on (CR3 = {@code cr3}), the given GDT, no IDT, interrupts off. */
    public static BootCpuState longMode(int index, long rip, long rsp, long rsi, long rdi, long rdx, long cr3, Gdt gdt) {
        return new BootCpuState(index, rip, rsp, rsi, rdi, rdx, RFLAGS_RESERVED,
                CR0_PE | CR0_ET | CR0_NE | CR0_PG, cr3, CR4_PAE, EFER_LME | EFER_LMA,
                MemoryLayout.GDT_ADDR, gdt.limit(), 0, 0,
                gdt.code(), gdt.data(), gdt.tss());
    }

    @Override
    public String toString() {
        return String.format("vcpu%d rip=0x%x rsp=0x%x rsi=0x%x rdi=0x%x rdx=0x%x cr3=0x%x cs=0x%x ds=0x%x",
                index, rip, rsp, rsi, rdi, rdx, cr3, code.selector(), data.selector());
    }
}
