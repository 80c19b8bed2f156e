package io.jvmm.emulator.boot;

import org.junit.jupiter.api.Test;

import java.util.List;

import static io.jvmm.emulator.boot.MemoryLayout.GIB;
import static io.jvmm.emulator.boot.MemoryLayout.MIB;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MemoryLayoutTest {

    @Test
    void smallMachineHasOnlyLowRamAndTheStandardMap() {
        MemoryLayout l = new MemoryLayout(512 * MIB);
        assertEquals(512 * MIB, l.lowRamSize());
        assertEquals(0, l.highRamSize());
        assertEquals(List.of(new AddressRange("ram-low", 0, 512 * MIB)), l.ramRanges());
        assertEquals(64 * GIB, l.mmio64Start());
        assertEquals(List.of(
                new E820Entry(0, 0x1000, E820Entry.RAM),
                new E820Entry(0x1000, 0x8F000, E820Entry.RESERVED),
                new E820Entry(0x90000, 0x10000, E820Entry.RAM),
                new E820Entry(0xA0000, 0x60000, E820Entry.RESERVED),
                new E820Entry(0x100000, 512 * MIB - 0x100000, E820Entry.RAM),
                new E820Entry(MemoryLayout.KVM_IDENTITY_MAP_ADDR, 0x4000, E820Entry.RESERVED)), l.e820());
    }

    @Test
    void largeMachineSplitsRamAroundThePciHole() {
        MemoryLayout l = new MemoryLayout(5 * GIB);
        assertEquals(3 * GIB, l.lowRamSize());
        assertEquals(2 * GIB, l.highRamSize());
        assertEquals(List.of(new AddressRange("ram-low", 0, 3 * GIB), new AddressRange("ram-high", 4 * GIB, 6 * GIB)), l.ramRanges());
        List<E820Entry> e820 = l.e820();
        assertEquals(new E820Entry(0x100000, 3 * GIB - 0x100000, E820Entry.RAM), e820.get(4));
        assertEquals(new E820Entry(4 * GIB, 2 * GIB, E820Entry.RAM), e820.get(e820.size() - 1));
        for (E820Entry e : e820) {   // nothing in the hole but the KVM private pages
            if (e.type() == E820Entry.RAM) {
                assertFalse(e.address() < MemoryLayout.PCI_HOLE_END && MemoryLayout.PCI_HOLE_START < e.end(), e.toString());
            }
        }
        assertTrue(l.isRam(4 * GIB, 2 * GIB));
        assertFalse(l.isRam(3 * GIB, 1));
        assertFalse(l.isRam(6 * GIB - 1, 2));
    }

    @Test
    void mmio64WindowSitsAboveRamOnAGibBoundary() {
        MemoryLayout l = new MemoryLayout(70 * GIB + 4 * MIB);   // top of RAM: 4G + 67G + 4M
        assertEquals(72 * GIB, l.mmio64Start());
        assertEquals(72 * GIB + MemoryLayout.MMIO64_SIZE, l.mmio64End());
        assertTrue(l.mmio64Start() >= MemoryLayout.HIGH_RAM_START + l.highRamSize());
    }

    @Test
    void fixedAddressesDoNotCollide() {
        assertTrue(MemoryLayout.MMIO32_END <= MemoryLayout.IOAPIC_BASE);
        assertTrue(MemoryLayout.LAPIC_BASE < MemoryLayout.KVM_IDENTITY_MAP_ADDR);
        assertEquals(MemoryLayout.KVM_IDENTITY_MAP_ADDR + 0x1000, MemoryLayout.KVM_TSS_ADDR);
        assertEquals(0x90000, MemoryLayout.BOOT_AREA_END);
        assertTrue(MemoryLayout.PD_ADDR + MemoryLayout.PD_COUNT * MemoryLayout.PAGE <= MemoryLayout.STACKS_ADDR);
        assertEquals(0x10000 + 0x4000, MemoryLayout.stackTop(0));
        assertEquals(MemoryLayout.BOOT_AREA_END, MemoryLayout.stackTop(MemoryLayout.MAX_CPUS - 1));
        assertThrows(IllegalArgumentException.class, () -> MemoryLayout.stackTop(MemoryLayout.MAX_CPUS));
    }

    @Test
    void tooLittleMemoryIsAUserError() {
        BootException e = assertThrows(BootException.class, () -> new MemoryLayout(MIB));
        assertEquals("-m 1M is too small: jvmm needs at least 2 MiB (boot structures below 1 MiB plus the guest image)", e.getMessage());
        BootException odd = assertThrows(BootException.class, () -> new MemoryLayout(4 * MIB + 100));
        assertEquals("-m 4194404 bytes is not a multiple of 4 KiB", odd.getMessage());
    }
}
