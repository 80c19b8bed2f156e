package io.jvmm.emulator.kvm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.jvmm.pci.mem.GuestMemory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Page tables and GDT written for a direct 64-bit entry, checked in guest memory. */
class LongModeSetupTest {
    private final GuestMemory memory = GuestMemory.ofRam("long-mode-test", 1 << 20);

    @AfterEach
    void close() {
        memory.close();
    }

    @Test
    void identityMapUsesTwoMegabytePagesUpToTheRequestedSize() {
        memory.write64(0x20000 + 8, 0xDEAD);   // stale data in the PML4 must be cleared
        long end = LongModeSetup.writeIdentityPageTables(memory, 0x20000, 4L << 30);
        assertEquals(0x20000 + 6 * 4096, end, "PML4, PDPT and four page directories");
        assertEquals(0x21000 | 3, memory.read64(0x20000));
        assertEquals(0, memory.read64(0x20008));
        for (int g = 0; g < 4; g++) {
            assertEquals((0x22000 + g * 0x1000) | 3, memory.read64(0x21000 + 8 * g));
        }
        assertEquals(0, memory.read64(0x21000 + 8 * 4), "nothing above 4 GiB");
        assertEquals(0x83, memory.read64(0x22000), "0-2 MiB: present, writable, large");
        // 0xFEE00000 (local APIC) is GiB 3, entry 0x1F7 of that directory.
        assertEquals(0xFEE00000L | 0x83, memory.read64(0x25000 + 8 * 0x1F7));
    }

    @Test
    void gdtHoldsFlatCodeDataAndTss() {
        LongModeSetup.writeGdt(memory, 0x500);
        assertEquals(0, memory.read64(0x500));
        assertEquals(0x00AF9B000000FFFFL, memory.read64(0x500 + LongModeSetup.CODE_SELECTOR));
        assertEquals(0x00CF93000000FFFFL, memory.read64(0x500 + LongModeSetup.DATA_SELECTOR));
        assertEquals(0x8B, (memory.read64(0x500 + LongModeSetup.TSS_SELECTOR) >>> 40) & 0xFF);
    }

    @Test
    void badSizesAndPlacesAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> LongModeSetup.writeIdentityPageTables(memory, 0x20000, 3L << 29));
        assertThrows(IllegalArgumentException.class, () -> LongModeSetup.writeIdentityPageTables(memory, 0x20010, 1L << 30));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> LongModeSetup.writeIdentityPageTables(memory, 0xFD000, 4L << 30));
        assertEquals("page tables at 0xfd000 (6 pages) do not fit in guest RAM", e.getMessage());
    }
}
