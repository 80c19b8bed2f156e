package io.jvmm.testkit.driver;

import io.jvmm.pci.mem.GuestMemory;

/**
 * What a guest CPU can do: port I/O, MMIO and plain loads and stores to its RAM. The guest
 * drivers use nothing else, so they see a device exactly as a guest operating system would.
 */
public interface GuestCpu {
    int inb(int port);

    int inw(int port);

    int inl(int port);

    void outb(int port, int value);

    void outw(int port, int value);

    void outl(int port, int value);

    /** An MMIO read of 1, 2, 4 or 8 bytes, zero-extended. */
    long readMmio(long address, int size);

    /** An MMIO write; returns once the machine has completed it (as a vCPU store retires). */
    void writeMmio(long address, int size, long value);

    /** The guest's RAM, as its loads and stores see it. */
    GuestMemory memory();
}
