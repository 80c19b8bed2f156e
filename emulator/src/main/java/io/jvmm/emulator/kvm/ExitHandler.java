package io.jvmm.emulator.kvm;

/**
 * What a vCPU does with the exits KVM hands to user space: port I/O and MMIO that no in-kernel
 * device (irqchip, PIT, ioeventfd) claimed. Called on the vCPU thread inside
 * {@link KvmVcpu#run(ExitHandler)}; each access of a string instruction ({@code rep outsb}) is
 * one call. Values are zero-extended little-endian, {@code size} is 1, 2 or 4 for ports and
 * 1 to 8 for MMIO.
 *
 * <p>A write may block until the device acknowledges it (rule 1 in ARCHITECTURE.md): the guest
 * instruction does not complete before the call returns. An exception thrown here ends
 * {@code run()} with that exception.
 */
public interface ExitHandler {
    long ioRead(int port, int size);

    void ioWrite(int port, int size, long value);

    long mmioRead(long address, int size);

    void mmioWrite(long address, int size, long value);

    /** Asked after every handled exit: true makes run() return {@link ExitReason#STOPPED}. */
    default boolean shouldStop() {
        return false;
    }
}
