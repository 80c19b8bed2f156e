package io.jvmm.emulator.kvm;

/**
 * The details of the exit that ended a {@link KvmVcpu#run(ExitHandler)}.
 *
 * @param vcpu      the vCPU id
 * @param reason    the exit (its KVM code is {@link ExitReason#code()}), or {@link ExitReason#STOPPED}
 * @param detail    the exit's own data in words, e.g. {@code emulation failure (suberror 1), data [...]}
 * @param registers {@link KvmVcpu#dumpRegisters()} taken at the exit for failures and system
 *                  events, empty otherwise
 */
public record VcpuExit(int vcpu, ExitReason reason, String detail, String registers) {
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
