package io.jvmm.emulator.kvm;

import java.util.EnumSet;
import java.util.Set;

/**
 * The KVM capabilities jvmm asks about (KVM_CHECK_EXTENSION numbers from
 * {@code include/uapi/linux/kvm.h}). {@link #REQUIRED} is what {@link Kvm#open()} insists on:
 * without any one of them a machine cannot be assembled the way jvmm assembles it.
 */
public enum KvmCapability {
    IRQCHIP(0),
    USER_MEMORY(3),
    SET_TSS_ADDR(4),
    EXT_CPUID(7),
    NR_VCPUS(9),
    NR_MEMSLOTS(10),
    MP_STATE(14),
    IRQ_ROUTING(25),
    IRQFD(32),
    PIT2(33),
    IOEVENTFD(36),
    SET_IDENTITY_MAP_ADDR(37),
    MAX_VCPUS(66),
    SIGNAL_MSI(77),
    IOEVENTFD_ANY_LENGTH(122),
    IMMEDIATE_EXIT(136);

    /** Capabilities a VM cannot do without: interrupts, memory, the vCPU kick used by stop(). */
    public static final Set<KvmCapability> REQUIRED = Set.copyOf(EnumSet.of(
            IRQCHIP, USER_MEMORY, SET_TSS_ADDR, SET_IDENTITY_MAP_ADDR, EXT_CPUID, MP_STATE, IRQ_ROUTING,
            IRQFD, PIT2, IOEVENTFD, SIGNAL_MSI, IMMEDIATE_EXIT));

    private final int number;

    KvmCapability(int number) {
        this.number = number;
    }

    /** The KVM_CAP_* number passed to KVM_CHECK_EXTENSION. */
    public int number() {
        return number;
    }

    /** The name as the kernel headers spell it, e.g. {@code KVM_CAP_IRQFD}. */
    public String kernelName() {
        return "KVM_CAP_" + name();
    }
}
