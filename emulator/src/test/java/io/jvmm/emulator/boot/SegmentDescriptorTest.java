package io.jvmm.emulator.boot;

import io.jvmm.pci.mem.GuestMemory;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class SegmentDescriptorTest {

    @Test
    void flatDescriptorsEncodeToTheWellKnownValues() {
        assertEquals(0x00AF_9B00_0000_FFFFL, SegmentDescriptor.code64(0x08).encode());
        assertEquals(0x00CF_9300_0000_FFFFL, SegmentDescriptor.data(0x10).encode());
    }

    @Test
    void tssIsASixteenByteBusySystemDescriptor() {
        SegmentDescriptor tss = SegmentDescriptor.tss(0x18, 0x1_2345_6789L, 0x67);
        assertEquals(16, tss.gdtSize());
        // limit 0x67, base 23:0 0x456789, access 0x8b (present, busy 64-bit TSS), base 31:24 0x23
        assertEquals(0x2300_8B45_6789_0067L, tss.encode());
        assertEquals(0x1L, tss.encodeHigh());
    }

    @Test
    void gdtLayoutsPutSelectorsWhereEachProtocolWantsThem() {
        Gdt linux = Gdt.forLinux();
        assertEquals(0x10, linux.code().selector());
        assertEquals(0x18, linux.data().selector());
        assertEquals(0x2F, linux.limit());
        Gdt elf = Gdt.forElf();
        assertEquals(0x08, elf.code().selector());
        assertEquals(0x10, elf.data().selector());
        assertEquals(0x27, elf.limit());
    }

    @Test
    void gdtInMemoryMatchesTheDescriptorsHandedToTheVcpu() {
        GuestMemory memory = new MemoryLayout(4 * MemoryLayout.MIB).allocate();
        try {
            memory.write64(MemoryLayout.GDT_ADDR + 0x08, -1L);   // stale entry must be cleared
            Gdt gdt = Gdt.forLinux();
            gdt.write(memory);
            assertEquals(0L, memory.read64(MemoryLayout.GDT_ADDR));
            assertEquals(0L, memory.read64(MemoryLayout.GDT_ADDR + 0x08));
            assertEquals(0x00AF_9B00_0000_FFFFL, memory.read64(MemoryLayout.GDT_ADDR + 0x10));
            assertEquals(0x00CF_9300_0000_FFFFL, memory.read64(MemoryLayout.GDT_ADDR + 0x18));
            assertEquals(SegmentDescriptor.tss(0x20, MemoryLayout.TSS_ADDR, MemoryLayout.TSS_LIMIT).encode(),
                    memory.read64(MemoryLayout.GDT_ADDR + 0x20));
        } finally {
            memory.close();
        }
    }

    @Test
    void inconsistentDescriptorsAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> new SegmentDescriptor(0, 0x1234, 8, 0xB, true, 0, false, true, true, true));
        assertThrows(IllegalArgumentException.class, () -> new SegmentDescriptor(0, 0xFFFF, 8, 0x1B, true, 0, false, true, true, false));
        assertThrows(IllegalArgumentException.class, () -> new SegmentDescriptor(0, 0x10_0000, 8, 0xB, true, 0, false, true, true, false).encode());
    }
}
