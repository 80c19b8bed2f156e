package io.jvmm.testkit.driver.pci;

/** Bus, device (slot) and function of a PCI function, written as 00:03.0. */
public record PciAddress(int bus, int slot, int function) {
    public PciAddress {
        if (bus < 0 || bus > 0xFF || slot < 0 || slot > 31 || function < 0 || function > 7) {
            throw new IllegalArgumentException(String.format("bad PCI address %d:%d.%d", bus, slot, function));
        }
    }

    /** The CONFIG_ADDRESS value (mechanism #1) for dword register {@code offset & 0xFC}. */
    int configAddress(int offset) {
        return 0x8000_0000 | bus << 16 | slot << 11 | function << 8 | (offset & 0xFC);
    }

    @Override
    public String toString() {
        return String.format("%02x:%02x.%d", bus, slot, function);
    }
}
