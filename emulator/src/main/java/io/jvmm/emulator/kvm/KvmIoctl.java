package io.jvmm.emulator.kvm;

/**
 * KVM ioctl request codes for x86-64, from {@code include/uapi/linux/kvm.h} (checked against the
 * C headers). Requests are {@code long} because glibc's ioctl takes an {@code unsigned long} and
 * the {@code _IOR}/{@code _IOW} codes are at or above 0x80000000 (see PLATFORM-NOTES.md).
 */
final class KvmIoctl {
    private KvmIoctl() {
    }

    // /dev/kvm
    static final long GET_API_VERSION = 0xAE00L;
    static final long CREATE_VM = 0xAE01L;
    static final long CHECK_EXTENSION = 0xAE03L;
    static final long GET_VCPU_MMAP_SIZE = 0xAE04L;
    static final long GET_SUPPORTED_CPUID = 0xC008AE05L;

    // VM fd
    static final long CREATE_VCPU = 0xAE41L;
    static final long SET_USER_MEMORY_REGION = 0x4020AE46L;
    static final long SET_TSS_ADDR = 0xAE47L;
    static final long SET_IDENTITY_MAP_ADDR = 0x4008AE48L;
    static final long CREATE_IRQCHIP = 0xAE60L;
    static final long IRQ_LINE = 0x4008AE61L;
    static final long SET_GSI_ROUTING = 0x4008AE6AL;
    static final long IRQFD = 0x4020AE76L;
    static final long CREATE_PIT2 = 0x4040AE77L;
    static final long IOEVENTFD = 0x4040AE79L;
    static final long SIGNAL_MSI = 0x4020AEA5L;

    // vCPU fd
    static final long RUN = 0xAE80L;
    static final long GET_REGS = 0x8090AE81L;
    static final long SET_REGS = 0x4090AE82L;
    static final long GET_SREGS = 0x8138AE83L;
    static final long SET_SREGS = 0x4138AE84L;
    static final long GET_MSRS = 0xC008AE88L;
    static final long SET_MSRS = 0x4008AE89L;
    static final long SET_CPUID2 = 0x4008AE90L;
    static final long GET_MP_STATE = 0x8004AE98L;
    static final long SET_MP_STATE = 0x4004AE99L;

    /** The only KVM API version there has ever been a stable ABI for. */
    static final int API_VERSION = 12;
}
