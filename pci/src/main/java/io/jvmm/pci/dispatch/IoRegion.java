package io.jvmm.pci.dispatch;

/**
 * One registration in an {@link IoSpace}: {@code [base, base + length)} owned by {@code owner}
 * (a device id plus what the region is, e.g. "net0 BAR4"), served by {@code handler}.
 * Unregistration goes by identity, so keep the instance {@link IoSpace#register} returned.
 */
public record IoRegion(String owner, long base, long length, IoHandler handler) {

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
