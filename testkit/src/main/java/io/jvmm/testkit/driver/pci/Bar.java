package io.jvmm.testkit.driver.pci;

/** A sized BAR and, once the allocator has placed it, its address (else -1). */
public record Bar(int index, BarKind kind, long size, boolean prefetchable, long address) {
    public Bar withAddress(long newAddress) {
        return new Bar(index, kind, size, prefetchable, newAddress);
    }

    public boolean assigned() {
        return address >= 0;
    }

    @Override
    public String toString() {
        return String.format("BAR%d %s size 0x%x%s%s", index, kind, size, prefetchable ? " prefetchable" : "",
                address >= 0 ? String.format(" @0x%x", address) : " unassigned");
    }
}
