/**
 * The KVM shim: {@code /dev/kvm} driven through jnr-ffi, no C.
 *
 * <ul>
 *   <li>{@link io.jvmm.emulator.kvm.Kvm} opens and checks the device (API 12, required
 *       capabilities, one clear {@link io.jvmm.emulator.kvm.KvmUnavailableException} otherwise).</li>
 *   <li>{@link io.jvmm.emulator.kvm.KvmVm}: memory slots over {@code GuestMemory}'s shared
 *       mappings, in-kernel irqchip and PIT, the GSI routing table (legacy pins plus MSI routes),
 *       irqfds, ioeventfds, KVM_SIGNAL_MSI and KVM_IRQ_LINE.</li>
 *   <li>{@link io.jvmm.emulator.kvm.KvmVcpu}: registers, CPUID, MSRs, MP state, register dumps,
 *       and (in {@code KvmRunLoop}) the KVM_RUN loop that hands I/O and MMIO exits to an
 *       {@link io.jvmm.emulator.kvm.ExitHandler} and ends on any other
 *       {@link io.jvmm.emulator.kvm.ExitReason}, KVM's exit reasons in one enum.
 *       {@code stop()} kicks the vCPU thread out of the kernel with a real-time signal whose
 *       handler is a one-instruction native stub ({@code VcpuKicker}).</li>
 *   <li>{@link io.jvmm.emulator.kvm.LongModeSetup} and {@link io.jvmm.emulator.kvm.VcpuCpuid}
 *       prepare a vCPU for a direct 64-bit entry.</li>
 * </ul>
 *
 * <p>Every failed ioctl is an {@code io.jvmm.chardev.NativeException} naming the ioctl, its
 * interesting arguments and the errno. libc calls the chardev bindings lack (signals, tgkill,
 * mprotect) are bound in {@link io.jvmm.emulator.kvm.KvmSyscalls}.
 */
package io.jvmm.emulator.kvm;
