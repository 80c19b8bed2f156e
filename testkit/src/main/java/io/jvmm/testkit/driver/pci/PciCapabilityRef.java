package io.jvmm.testkit.driver.pci;

/** One entry of a function's capability list: its id and where it sits in config space. */
public record PciCapabilityRef(int id, int offset) {
    @Override
    public String toString() {
        return String.format("cap 0x%02x @0x%02x", id, offset);
    }
}
