package io.jvmm.pci.mem;

import io.jvmm.chardev.SharedMemory;

/**
 * One guest-physical range backed by a shared-memory mapping: guest address {@code base} maps to
 * byte 0 of {@code memory}.
 */
public record MemoryRegion(String name, long base, SharedMemory memory) {
    public long size() {
        return memory.size();
    }

    public long end() {
        return base + memory.size();
    }

    /** Whether [address, address+length) lies wholly inside this region (overflow-safe). */
    public boolean contains(long address, long length) {
        long offset = address - base;
        return address >= base && offset <= memory.size() && length <= memory.size() - offset;
    }

    @Override
    public String toString() {
        return String.format("%s[0x%x-0x%x)", name, base, end());
    }
}
