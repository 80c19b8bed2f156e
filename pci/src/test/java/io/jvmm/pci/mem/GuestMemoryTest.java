package io.jvmm.pci.mem;

import io.jvmm.chardev.SharedMemory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

import static org.junit.jupiter.api.Assertions.*;

class GuestMemoryTest {
    private final GuestMemory memory = new GuestMemory();

    @AfterEach
    void close() {
        memory.close();
    }

    @Test
    void valuesAreLittleEndianAndSeenThroughEveryView() {
        memory.addRegion("ram", 0, SharedMemory.create("ram", 1 << 20));
        memory.write32(0x100, 0x11223344);
        assertEquals(0x44, memory.read8(0x100));
        assertEquals(0x3344, memory.read16(0x100));
        assertEquals(0x11223344, memory.read32(0x100));
        memory.write64(0x201, 0x8877665544332211L);   // unaligned plain access is allowed
        assertEquals(0x8877665544332211L, memory.read64(0x201));
        assertEquals(0xffff, readAfterWrite16(0x300, 0xffff), "16-bit reads are zero-extended");

        ByteBuffer view = memory.slice(0x1000, 16);
        view.putInt(4, 0xcafef00d);
        assertEquals(0xcafef00d, memory.read32(0x1004), "a slice is zero-copy");
        assertEquals(0xcafef00d, memory.translate(0x1004).memory().slice(0x1004, 4).getInt(0));
    }

    private int readAfterWrite16(long address, int value) {
        memory.write16(address, value);
        return memory.read16(address);
    }

    @Test
    void outOfRangeAndStraddlingAccessesAreErrorsNotCrashes() {
        memory.addRegion("low", 0, SharedMemory.create("low", 0x10000));
        memory.addRegion("high", 0x20000, SharedMemory.create("high", 0x10000));

        GuestMemoryException e = assertThrows(GuestMemoryException.class, () -> memory.read32(0x10000));
        assertTrue(e.getMessage().contains("0x10000") && e.getMessage().contains("outside guest memory"), e.getMessage());
        assertThrows(GuestMemoryException.class, () -> memory.read32(0xfffe), "runs past the end of low");
        assertThrows(GuestMemoryException.class, () -> memory.write64(0x2fffc, 1));
        assertThrows(GuestMemoryException.class, () -> memory.read8(-1));
        assertThrows(GuestMemoryException.class, () -> memory.read8(Long.MAX_VALUE));
        assertThrows(GuestMemoryException.class, () -> memory.slice(0x1f000, 0x2000), "between regions");
        assertThrows(GuestMemoryException.class, () -> memory.slice(0xf000, 0x2000), "straddles the end");
        assertThrows(GuestMemoryException.class, () -> memory.slice(0x20000, Integer.MAX_VALUE));
        assertThrows(GuestMemoryException.class, () -> memory.slice(0x20000, -1));
        assertThrows(GuestMemoryException.class, () -> memory.read(0xff00, new byte[0x200], 0, 0x200));
        assertFalse(memory.isValid(0xfff0, 0x20));
        assertTrue(memory.isValid(0x2fff0, 0x10));
        assertEquals(0, memory.read32(0x2fffc), "last word of the high region is readable");
    }

    @Test
    void orderedAccessNeedsNaturalAlignment() {
        memory.addRegion("ram", 0, SharedMemory.create("ram", 0x10000));
        memory.write16Release(0x10, 0xbeef);
        assertEquals(0xbeef, memory.read16Acquire(0x10));
        memory.write32Release(0x20, -2);
        assertEquals(-2, memory.read32Acquire(0x20));
        assertThrows(GuestMemoryException.class, () -> memory.read16Acquire(0x11));
        assertThrows(GuestMemoryException.class, () -> memory.write32Release(0x22, 0));
    }

    @Test
    void regionsMayNotOverlapAndMustBePageAligned() {
        memory.addRegion("a", 0x100000, SharedMemory.create("a", 0x10000));
        SharedMemory b = SharedMemory.create("b", 0x10000);
        try {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> memory.addRegion("b", 0x108000, b));
            assertTrue(e.getMessage().contains("overlaps"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> memory.addRegion("b", 0x200800, b));
        } finally {
            b.close();
        }
        MemoryRegion removed = memory.removeRegion(0x100000);
        assertThrows(GuestMemoryException.class, () -> memory.read8(0x100000));
        removed.memory().close();
        assertThrows(IllegalArgumentException.class, () -> memory.removeRegion(0x100000));
    }

    @Test
    void translationGivesFdOffsetAndHostAddress() {
        memory.addRegion("low", 0, SharedMemory.create("low", 0x10000));
        SharedMemory highMem = SharedMemory.create("high", 0x20000);
        memory.addRegion("high", 0x100000000L, highMem);
        HostLocation loc = memory.translate(0x100001234L);
        assertSame(highMem, loc.memory());
        assertEquals(highMem.fd(), loc.fd());
        assertEquals(0x1234, loc.fdOffset());
        assertEquals(highMem.address() + 0x1234, loc.hostAddress());
        assertEquals(0x20000 - 0x1234, loc.remaining());
        assertThrows(GuestMemoryException.class, () -> memory.translate(0x20000));
    }

    @Test
    void accessesAcrossTheOneGibWindowBoundaryWork() {
        long size = SharedMemory.WINDOW_SIZE + 0x10000;   // a sparse memfd: costs no RAM
        memory.addRegion("big", 0x1000, SharedMemory.create("big", size));
        long boundary = 0x1000 + SharedMemory.WINDOW_SIZE;
        memory.write64(boundary - 4, 0x0102030405060708L);
        assertEquals(0x0102030405060708L, memory.read64(boundary - 4));
        assertEquals(0x01020304, memory.read32(boundary));
        memory.write32(boundary - 2, 0xa1b2c3d4);
        assertEquals(0xa1b2c3d4, memory.read32(boundary - 2));
        memory.write16(boundary - 1, 0x5566);
        assertEquals(0x5566, memory.read16(boundary - 1));
        ByteBuffer across = memory.slice(boundary - 8, 16);
        assertEquals(0x66, across.get(7));
        assertEquals(0x55, across.get(8));
        memory.write16Release(boundary, 0x7788);
        assertEquals(0x7788, memory.read16Acquire(boundary));
    }

    @Test
    void bulkCopiesAndFileTransfersGoStraightToGuestMemory(@TempDir Path dir) throws Exception {
        memory.addRegion("ram", 0, SharedMemory.create("ram", 0x100000));
        byte[] pattern = new byte[8192];
        for (int i = 0; i < pattern.length; i++) {
            pattern[i] = (byte) (i * 7 + 3);
        }
        memory.write(0x3000, ByteBuffer.wrap(pattern));
        byte[] back = new byte[pattern.length];
        memory.read(0x3000, back, 0, back.length);
        assertArrayEquals(pattern, back);

        Path file = dir.resolve("disk.img");
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            memory.writeToFile(ch, 512, 0x3000, pattern.length);
            memory.readFromFile(ch, 512 + 100, 0x8000, 1000);
            assertThrows(java.io.IOException.class, () -> memory.readFromFile(ch, 512 + 8000, 0x9000, 1000));
        }
        byte[] onDisk = Files.readAllBytes(file);
        assertEquals(512 + pattern.length, onDisk.length);
        for (int i = 0; i < 1000; i++) {
            assertEquals(pattern[100 + i], (byte) memory.read8(0x8000 + i));
            assertEquals(pattern[i], onDisk[512 + i]);
        }
    }
}
