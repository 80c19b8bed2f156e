package io.jvmm.pci;

/** One entry of a device's capability list: its id, its offset in config space and its length. */
public record Capability(int id, int offset, int length) {

    @Override
    public String toString() {
        return String.format("cap 0x%02x @0x%02x len %d", id, offset, length);
    }
}
