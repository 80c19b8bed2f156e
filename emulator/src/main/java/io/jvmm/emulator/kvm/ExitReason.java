package io.jvmm.emulator.kvm;

/**
 * Why {@link KvmVcpu#run(ExitHandler)} returned. The details of the last exit (KVM codes, a
 * register dump for the failures) are in {@link KvmVcpu#lastExit()}.
 */
public enum ExitReason {
    /** The guest executed HLT and KVM returned to user space (only without an in-kernel irqchip). */
    HLT(false),
    /** Triple fault: the guest is dead (KVM_EXIT_SHUTDOWN). */
    SHUTDOWN(true),
    /** The guest asked for a shutdown, reset or crash report (PSCI/Hyper-V style; KVM_EXIT_SYSTEM_EVENT). */
    SYSTEM_EVENT(false),
    /** KVM could not enter the guest: its state is invalid for the hardware (KVM_EXIT_FAIL_ENTRY). */
    FAIL_ENTRY(true),
    /** KVM gave up, e.g. an instruction its emulator cannot handle (KVM_EXIT_INTERNAL_ERROR). */
    INTERNAL_ERROR(true),
    /** An exit this VMM does not handle (debug, exceptions, unknown hardware exits). */
    UNHANDLED(true),
    /** {@link KvmVcpu#stop()} was called or the exit handler asked to stop. */
    STOPPED(false);

    private final boolean failure;

    ExitReason(boolean failure) {
        this.failure = failure;
    }

    /** Whether the guest cannot continue: report it with the register dump. */
    public boolean isFailure() {
        return failure;
    }
}
