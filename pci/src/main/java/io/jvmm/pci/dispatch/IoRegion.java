package io.jvmm.pci.dispatch;

import io.jvmm.chardev.SharedMemory;

/**
 * One registration in an {@link IoSpace}: {@code [base, base + length)} owned by {@code owner}
 * (a device id plus what the region is, e.g. "net0 BAR4"), served by {@code handler}.
 * Unregistration goes by identity, so keep the instance {@link IoSpace#register} returned.
 *
 * @param ram the shared memory behind the region if it is RAM (a machine with a CPU maps it into
 *     the guest so accesses do not trap), or null
 */
public record IoRegion(String owner, long base, long length, IoHandler handler, SharedMemory ram) {

    public IoRegion(String owner, long base, long length, IoHandler handler) {
        this(owner, base, length, handler, null);
    }

    /** One past the last address of the region. */
    public long end() {
        return base + length;
    }

    public boolean contains(long address) {
        return address >= base && address - base < length;
    }

    @Override
    public String toString() {
        return String.format("'%s' [0x%x-0x%x]", owner, base, base + length - 1);
    }
}
