package io.jvmm.emulator.boot;

import io.jvmm.pci.mem.GuestMemory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.OptionalLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

class PageTablesTest {
    private GuestMemory memory;
    private long cr3;

    @BeforeEach
    void build() {
        memory = new MemoryLayout(8 * MemoryLayout.MIB).allocate();
        cr3 = PageTables.write(memory);
    }

    @AfterEach
    void close() {
        memory.close();
    }

    @Test
    void firstFourGibAreIdentityMapped() {
        long[] addresses = {0, 0x7000, 0x1234_5678L, 0xBFFF_FFFFL, 0xC000_0000L, MemoryLayout.IOAPIC_BASE,
                MemoryLayout.LAPIC_BASE + 0xB0, 0xFFFF_FFFFL};
        for (long a : addresses) {
            assertEquals(OptionalLong.of(a), PageTableWalker.translate(memory, cr3, a), String.format("0x%x", a));
        }
    }

    @Test
    void nothingAboveFourGibIsMapped() {
        assertFalse(PageTableWalker.translate(memory, cr3, 0x1_0000_0000L).isPresent());
        assertFalse(PageTableWalker.translate(memory, cr3, 0x8000_0000_0000L).isPresent());
    }

    @Test
    void tablesUseWritableTwoMiBPages() {
        assertEquals(MemoryLayout.PML4_ADDR, cr3);
        assertEquals(MemoryLayout.PDPT_ADDR | 0x3, memory.read64(MemoryLayout.PML4_ADDR));
        assertEquals(0L, memory.read64(MemoryLayout.PML4_ADDR + 8));
        assertEquals((MemoryLayout.PD_ADDR + 3 * MemoryLayout.PAGE) | 0x3, memory.read64(MemoryLayout.PDPT_ADDR + 24));
        // last 2 MiB page of the fourth directory: 0xffe00000, present | writable | large
        assertEquals(0xFFE0_0000L | 0x83, memory.read64(MemoryLayout.PD_ADDR + 3 * MemoryLayout.PAGE + 511 * 8));
    }

    @Test
    void walkerFollowsFourKibPagesToo() {
        // map virtual 0x4000_0000_0000 -> physical 0x30_5000 by hand through tables at 0x40_0000..0x40_2fff
        long pdpt = 0x40_0000;
        long pd = 0x40_1000;
        long pt = 0x40_2000;
        long va = 0x4000_0000_0000L;
        memory.write64(MemoryLayout.PML4_ADDR + ((va >>> 39) & 0x1FF) * 8, pdpt | 3);
        memory.write64(pdpt, pd | 3);
        memory.write64(pd, pt | 3);
        memory.write64(pt + 8, 0x30_5000 | 3);
        assertEquals(OptionalLong.of(0x30_5123), PageTableWalker.translate(memory, cr3, va + 0x1123));
        assertFalse(PageTableWalker.translate(memory, cr3, va + 0x2000).isPresent(), "PTE 2 not present");
    }
}
