package io.jvmm.emulator.boot;

/**
 * One entry of the e820 memory map handed to the guest in the zero page (struct boot_e820_entry:
 * u64 addr, u64 size, u32 type, packed, 20 bytes).
 */
public record E820Entry(long address, long size, int type) {
    public static final int RAM = 1;
    public static final int RESERVED = 2;
    /** Bytes per entry in the zero page. */
    public static final int SIZE = 20;

    public E820Entry {
        if (size <= 0 || address < 0) {
            throw new IllegalArgumentException(String.format("e820 entry at 0x%x size 0x%x", address, size));
        }
    }

    public long end() {
        return address + size;
    }

    @Override
    public String toString() {
        return String.format("[0x%x-0x%x) %s", address, end(), type == RAM ? "ram" : type == RESERVED ? "reserved" : "type " + type);
    }
}
