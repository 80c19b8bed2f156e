package io.jvmm.pci;

import static io.jvmm.pci.ConfigRegisters.*;
import static org.junit.jupiter.api.Assertions.*;

import io.jvmm.pci.dispatch.IoSpace;
import io.jvmm.pci.dispatch.RecordingHandler;
import org.junit.jupiter.api.Test;

class PciBarTest {

    private final IoSpace mmio = IoSpace.mmio();
    private final IoSpace pio = IoSpace.pio();
    private final PciBus bus = new PciBus(mmio, pio);
    private final RecordingHandler ioHandler = new RecordingHandler(0x10_0000);
    private final RecordingHandler memHandler = new RecordingHandler(0x20_0000);
    private final RecordingHandler mem64Handler = new RecordingHandler(0x30_0000);
    private final TestDevice dev = new TestDevice("dev0")
            .withBar(0, BarDefinition.io(0x20, ioHandler))
            .withBar(1, BarDefinition.mem32(0x1000, memHandler))
            .withBar(2, BarDefinition.mem64(0x4000, false, mem64Handler))
            .withBar(5, new BarDefinition(BarKind.MEM32, 0x100, true, new RecordingHandler(0)));

    private int size(int register) {
        int saved = dev.configRead(register, 4);
        dev.configWrite(register, 4, 0xFFFF_FFFF);
        int mask = dev.configRead(register, 4);
        dev.configWrite(register, 4, saved);
        return mask;
    }

    @Test
    void ioBarSizing() {
        assertEquals(1, dev.configRead(bar(0), 4), "IO BAR: bit 0 set, address 0");
        assertEquals(0xFFFF_FFE1, size(bar(0)), "32-byte IO BAR");
        dev.configWrite(bar(0), 4, 0xC047);
        assertEquals(0xC041, dev.configRead(bar(0), 4), "address bits below the size read 0, bit 0 stays 1");
    }

    @Test
    void mem32BarSizing() {
        assertEquals(0, dev.configRead(bar(1), 4));
        assertEquals(0xFFFF_F000, size(bar(1)), "4 KiB 32-bit non-prefetchable");
    }

    @Test
    void mem32PrefetchableBarSizing() {
        assertEquals(0x8, dev.configRead(bar(5), 4));
        assertEquals(0xFFFF_FF08, size(bar(5)), "256-byte 32-bit prefetchable");
    }

    @Test
    void mem64BarSizingIncludingUpperDword() {
        assertEquals(0x4, dev.configRead(bar(2), 4), "type 10b = 64-bit");
        assertEquals(0xFFFF_C004, size(bar(2)));
        assertEquals(0xFFFF_FFFF, size(bar(3)), "upper dword of a 16 KiB BAR: all address bits writable");
        assertTrue(dev.bar(3).isEmpty(), "the upper half is not a BAR of its own");
    }

    @Test
    void mem64PrefetchableLargeBarSizing() {
        TestDevice big = new TestDevice("big").withBar(0, BarDefinition.mem64(1L << 33, true, new RecordingHandler(0)));
        big.configWrite(bar(0), 4, 0xFFFF_FFFF);
        big.configWrite(bar(1), 4, 0xFFFF_FFFF);
        assertEquals(0x0000_000C, big.configRead(bar(0), 4), "8 GiB: no writable bits in the lower dword; 64-bit, prefetchable");
        assertEquals(0xFFFF_FFFE, big.configRead(bar(1), 4));
    }

    @Test
    void unimplementedBarReadsZeroAndIgnoresWrites() {
        dev.configWrite(bar(4), 4, 0xFFFF_FFFF);
        assertEquals(0, dev.configRead(bar(4), 4));
        assertTrue(dev.bar(4).isEmpty());
        assertEquals(-1, dev.barAddress(4));
    }

    @Test
    void memoryBarIsMappedWhileDecodingAndProgrammed() {
        bus.attach(dev, 1);
        dev.configWrite(bar(1), 4, 0xE000_0000);
        assertTrue(mmio.find(0xE000_0000L).isEmpty(), "memory decoding off: not mapped");
        assertEquals(0xE000_0000L, dev.barAddress(1));

        dev.configWrite(COMMAND, 2, COMMAND_MEMORY);
        assertEquals(0x20_0010, mmio.read(0xE000_0010L, 4), "the handler answers with its offset");
        mmio.write(0xE000_0FFCL, 4, 0x55);
        assertEquals("4092/4/0x55", memHandler.writes.get(0));

        dev.configWrite(bar(1), 4, 0xE010_0000);   // move while decoding
        assertEquals(0xFFFF_FFFFL, mmio.read(0xE000_0010L, 4), "old place is unassigned");
        assertEquals(0x20_0010, mmio.read(0xE010_0010L, 4));

        dev.configWrite(COMMAND, 2, 0);
        assertEquals(0xFFFF_FFFFL, mmio.read(0xE010_0010L, 4), "decoding off unmaps");
        dev.configWrite(COMMAND, 2, COMMAND_MEMORY);
        assertEquals(0x20_0010, mmio.read(0xE010_0010L, 4), "decoding on maps again");
        assertEquals(java.util.List.of("mapped 1 0xe0000000", "unmapped 1 0xe0000000", "mapped 1 0xe0100000",
                "unmapped 1 0xe0100000", "mapped 1 0xe0100000"), dev.events);
    }

    @Test
    void sizingPatternAndZeroAreNotMapped() {
        bus.attach(dev, 1);
        dev.configWrite(COMMAND, 2, COMMAND_MEMORY);
        dev.configWrite(bar(1), 4, 0xFFFF_FFFF);
        assertTrue(dev.barRegion(1).isEmpty(), "sizing pattern with decoding on must not be mapped");
        assertEquals(-1, dev.barAddress(1));
        assertTrue(mmio.find(0xFFFF_F000L).isEmpty());
        dev.configWrite(bar(1), 4, 0);
        assertTrue(dev.barRegion(1).isEmpty(), "address 0 is not mapped");
        dev.configWrite(bar(1), 4, 0x8000_0000);
        assertEquals(0x8000_0000L, dev.barRegion(1).orElseThrow().base());
    }

    @Test
    void mem64BarMapsAbove4GiB() {
        bus.attach(dev, 1);
        dev.configWrite(bar(2), 4, 0x0000_8000);
        dev.configWrite(bar(3), 4, 0x0000_0001);
        dev.configWrite(COMMAND, 2, COMMAND_MEMORY);
        assertEquals(0x1_0000_8000L, dev.barAddress(2));
        assertEquals(0x30_0008, mmio.read(0x1_0000_8008L, 8));
        assertEquals(0xFFL, mmio.read(0x8008L, 1), "the upper dword matters");
        dev.configWrite(bar(3), 4, 0xFFFF_FFFF);
        assertTrue(dev.barRegion(2).isEmpty(), "upper dword being sized: unmapped");
    }

    @Test
    void ioAndMemoryDecodingAreGatedSeparately() {
        bus.attach(dev, 1);
        dev.configWrite(bar(0), 4, 0xC000);
        dev.configWrite(bar(1), 4, 0xE000_0000);

        dev.configWrite(COMMAND, 2, COMMAND_MEMORY);
        assertEquals(0xFFFFL, pio.read(0xC004, 2), "IO BAR needs the IO bit");
        assertEquals(0x20_0004, mmio.read(0xE000_0004L, 4));

        dev.configWrite(COMMAND, 2, COMMAND_IO);
        assertEquals(0x0004, pio.read(0xC004, 2), "IO BAR mapped in port space, handler offset 4 (tag masked off)");
        assertEquals("4/2", ioHandler.reads.get(0));
        assertEquals(0xFFFF_FFFFL, mmio.read(0xE000_0004L, 4), "memory BAR needs the memory bit");
        assertTrue(mmio.find(0xC000).isEmpty(), "an IO BAR never lands in MMIO");
    }

    @Test
    void conflictingPlacementStaysUnmappedWithoutAnException() {
        RecordingHandler otherHandler = new RecordingHandler(0x90_0000);
        TestDevice other = new TestDevice("dev1").withBar(0, BarDefinition.mem32(0x2000, otherHandler));
        bus.attach(dev, 1);
        bus.attach(other, 2);
        dev.configWrite(bar(1), 4, 0xE000_1000);
        dev.configWrite(COMMAND, 2, COMMAND_MEMORY);

        other.configWrite(bar(0), 4, 0xE000_0000);   // 0xE0000000..0xE0001FFF overlaps dev0's BAR1
        assertDoesNotThrow(() -> other.configWrite(COMMAND, 2, COMMAND_MEMORY));
        assertTrue(other.barRegion(0).isEmpty(), "conflicting BAR stays unmapped");
        assertEquals(0x20_0000, mmio.read(0xE000_1000L, 4), "the first owner keeps its range");
        assertEquals(0xFFFF_FFFFL, mmio.read(0xE000_0000L, 4), "the conflicting BAR's free part is not mapped either");

        other.configWrite(bar(0), 4, 0xE000_4000);
        assertEquals(0x90_0000, mmio.read(0xE000_4000L, 4), "moved to a free range: mapped");
    }

    @Test
    void ioBarBeyondThePortSpaceIsNotMapped() {
        bus.attach(dev, 1);
        dev.configWrite(COMMAND, 2, COMMAND_IO);
        dev.configWrite(bar(0), 4, 0x1_0000);
        assertTrue(dev.barRegion(0).isEmpty());
        dev.configWrite(bar(0), 4, 0xFFE0);
        assertEquals(0xFFE0L, dev.barRegion(0).orElseThrow().base());
    }

    @Test
    void barsProgrammedBeforeAttachMapOnAttach() {
        dev.configWrite(bar(1), 4, 0xD000_0000);
        dev.configWrite(COMMAND, 2, COMMAND_MEMORY);
        bus.attach(dev, 4);
        assertEquals(0x20_0000, mmio.read(0xD000_0000L, 4));
    }

    @Test
    void barDefinitionsAreValidated() {
        RecordingHandler h = new RecordingHandler(0);
        assertThrows(IllegalArgumentException.class, () -> BarDefinition.mem32(0x1800, h), "not a power of two");
        assertThrows(IllegalArgumentException.class, () -> BarDefinition.mem32(8, h), "memory BARs are at least 16 bytes");
        assertThrows(IllegalArgumentException.class, () -> BarDefinition.io(2, h));
        assertThrows(IllegalArgumentException.class, () -> BarDefinition.io(512, h), "IO BARs are at most 256 bytes");
        assertThrows(IllegalArgumentException.class, () -> new BarDefinition(BarKind.IO, 16, true, h));
        assertThrows(IllegalArgumentException.class, () -> BarDefinition.mem32(1L << 32, h));
        TestDevice d = new TestDevice("d");
        assertThrows(IllegalArgumentException.class, () -> d.withBar(5, BarDefinition.mem64(0x1000, false, h)));
        d.withBar(0, BarDefinition.mem64(0x1000, false, h));
        assertThrows(IllegalArgumentException.class, () -> d.withBar(1, BarDefinition.mem32(0x1000, h)), "upper half taken");
        assertThrows(IllegalArgumentException.class, () -> d.withBar(0, BarDefinition.mem32(0x1000, h)));
        assertThrows(IllegalArgumentException.class, () -> d.withBar(6, BarDefinition.mem32(0x1000, h)));
        assertThrows(IllegalArgumentException.class, () -> d.barAddress(-1));
    }
}
