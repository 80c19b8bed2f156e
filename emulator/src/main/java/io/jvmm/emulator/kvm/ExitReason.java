package io.jvmm.emulator.kvm;

/**
 * Why KVM_RUN returned to user space: KVM's exit reasons with their codes (KVM_EXIT_* in
 * include/uapi/linux/kvm.h), plus two of jvmm's own that no code names ({@link #UNRECOGNIZED},
 * {@link #STOPPED}).
 *
 * <p>{@link KvmVcpu#run(ExitHandler)} serves {@link #IO}, {@link #MMIO}, {@link #INTR} and
 * {@link #IRQ_WINDOW_OPEN} itself and goes on; any other exit ends it and is what it returns,
 * with the details in {@link KvmVcpu#lastExit()}.
 */
public enum ExitReason {
    /** Carries the hardware's own exit reason (VMX or SVM), which KVM did not handle. */
    UNKNOWN(0),
    EXCEPTION(1),
    /** Port I/O no in-kernel device claimed: served by the {@link ExitHandler}. */
    IO(2),
    HYPERCALL(3),
    DEBUG(4),
    /** The guest executed HLT (exits to user space only without an in-kernel irqchip). */
    HLT(5),
    /** MMIO no in-kernel device or ioeventfd claimed: served by the {@link ExitHandler}. */
    MMIO(6),
    IRQ_WINDOW_OPEN(7),
    /** Triple fault: the guest is dead. */
    SHUTDOWN(8),
    /** KVM could not enter the guest: its state is invalid for the hardware. */
    FAIL_ENTRY(9),
    /** A signal (a kick) or immediate_exit made KVM_RUN return. */
    INTR(10),
    SET_TPR(11),
    TPR_ACCESS(12),
    S390_SIEIC(13),
    S390_RESET(14),
    DCR(15),
    NMI(16),
    /** KVM gave up, e.g. on an instruction its emulator cannot handle. */
    INTERNAL_ERROR(17),
    OSI(18),
    PAPR_HCALL(19),
    S390_UCONTROL(20),
    WATCHDOG(21),
    S390_TSCH(22),
    EPR(23),
    /** The guest asked for a shutdown, reset or crash report (PSCI/Hyper-V style). */
    SYSTEM_EVENT(24),
    S390_STSI(25),
    IOAPIC_EOI(26),
    HYPERV(27),
    ARM_NISV(28),
    X86_RDMSR(29),
    X86_WRMSR(30),
    DIRTY_RING_FULL(31),
    AP_RESET_HOLD(32),
    X86_BUS_LOCK(33),
    XEN(34),
    RISCV_SBI(35),
    RISCV_CSR(36),
    NOTIFY(37),
    LOONGARCH_IOCSR(38),
    MEMORY_FAULT(39),
    TDX(40),
    /** An exit code this list does not name (a newer kernel's); the detail gives the number. */
    UNRECOGNIZED(-1),
    /** Not an exit: {@link KvmVcpu#stop()} was called or the exit handler asked to stop. */
    STOPPED(-1);

    private static final ExitReason[] BY_CODE = new ExitReason[TDX.code + 1];

    static {
        for (ExitReason r : values()) {
            if (r.code >= 0) {
                BY_CODE[r.code] = r;
            }
        }
    }

    private final int code;

    ExitReason(int code) {
        this.code = code;
    }

    /** The reason KVM's exit_reason {@code code} names, or {@link #UNRECOGNIZED}. */
    public static ExitReason of(int code) {
        return code >= 0 && code < BY_CODE.length ? BY_CODE[code] : UNRECOGNIZED;
    }

    /** KVM's code for it, -1 for jvmm's own. */
    public int code() {
        return code;
    }

    /** Whether a run that ended here left a guest that cannot continue: report it with the register dump. */
    public boolean isFailure() {
        return switch (this) {
            case HLT, SYSTEM_EVENT, STOPPED -> false;
            case IO, MMIO, INTR, IRQ_WINDOW_OPEN -> false;   // served inside run(), never its result
            default -> true;
        };
    }
}
