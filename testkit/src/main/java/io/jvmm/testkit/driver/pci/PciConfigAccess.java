package io.jvmm.testkit.driver.pci;

import io.jvmm.testkit.driver.GuestCpu;

import java.util.Objects;

/**
 * Configuration space through mechanism #1: the dword address goes to CONFIG_ADDRESS (0xCF8),
 * the data moves through CONFIG_DATA (0xCFC + the low two offset bits). The address latch is
 * shared, so accesses are serialised here, as Linux serialises them with pci_config_lock.
 */
public final class PciConfigAccess {
    static final int CONFIG_ADDRESS = 0xCF8;
    static final int CONFIG_DATA = 0xCFC;

    private final GuestCpu cpu;

    public PciConfigAccess(GuestCpu cpu) {
        this.cpu = Objects.requireNonNull(cpu, "cpu");
    }

    public synchronized int read8(PciAddress a, int offset) {
        check(a, offset, 1);
        cpu.outl(CONFIG_ADDRESS, a.configAddress(offset));
        return cpu.inb(CONFIG_DATA + (offset & 3)) & 0xFF;
    }

    public synchronized int read16(PciAddress a, int offset) {
        check(a, offset, 2);
        cpu.outl(CONFIG_ADDRESS, a.configAddress(offset));
        return cpu.inw(CONFIG_DATA + (offset & 2)) & 0xFFFF;
    }

    public synchronized int read32(PciAddress a, int offset) {
        check(a, offset, 4);
        cpu.outl(CONFIG_ADDRESS, a.configAddress(offset));
        return cpu.inl(CONFIG_DATA);
    }

    public synchronized void write8(PciAddress a, int offset, int value) {
        check(a, offset, 1);
        cpu.outl(CONFIG_ADDRESS, a.configAddress(offset));
        cpu.outb(CONFIG_DATA + (offset & 3), value & 0xFF);
    }

    public synchronized void write16(PciAddress a, int offset, int value) {
        check(a, offset, 2);
        cpu.outl(CONFIG_ADDRESS, a.configAddress(offset));
        cpu.outw(CONFIG_DATA + (offset & 2), value & 0xFFFF);
    }

    public synchronized void write32(PciAddress a, int offset, int value) {
        check(a, offset, 4);
        cpu.outl(CONFIG_ADDRESS, a.configAddress(offset));
        cpu.outl(CONFIG_DATA, value);
    }

    /** Mechanism #1 reaches only the first 256 bytes, with naturally aligned accesses. */
    private static void check(PciAddress a, int offset, int size) {
        if (offset < 0 || offset + size > 256 || offset % size != 0) {
            throw new IllegalArgumentException(String.format("%s: config access of %d bytes at 0x%x must be aligned and below 0x100",
                    a, size, offset));
        }
    }
}
