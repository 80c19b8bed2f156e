package io.jvmm.emulator.kvm;

/**
 * The details of the exit that ended a {@link KvmVcpu#run(ExitHandler)}.
 *
 * @param vcpu           the vCPU id
 * @param reason         what the VMM makes of it
 * @param kvmExitReason  KVM's exit_reason code (KVM_EXIT_*), -1 when the run ended without an exit
 * @param detail         the exit's own data in words, e.g. {@code emulation failure (suberror 1), data [...]}
 * @param registers      {@link KvmVcpu#dumpRegisters()} taken at the exit for failures and system
 *                       events, empty otherwise
 */
public record VcpuExit(int vcpu, ExitReason reason, int kvmExitReason, String detail, String registers) {
    /** One message for the user: what happened, then the registers if there are any. */
    public String describe() {
        StringBuilder sb = new StringBuilder("vCPU ").append(vcpu).append(": ").append(reason);
        if (!detail.isEmpty()) {
            sb.append(" (").append(detail).append(')');
        }
        if (!registers.isEmpty()) {
            sb.append('\n').append(registers);
        }
        return sb.toString();
    }
}
