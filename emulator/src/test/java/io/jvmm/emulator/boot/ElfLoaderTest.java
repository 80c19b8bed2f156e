package io.jvmm.emulator.boot;

import io.jvmm.pci.mem.GuestMemory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static io.jvmm.emulator.boot.MemoryLayout.MIB;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(60)
class ElfLoaderTest {
    @TempDir
    Path dir;
    private GuestMemory memory;

    @AfterEach
    void close() {
        if (memory != null) {
            memory.close();
        }
    }

    private MemoryLayout machine(long ram) {
        MemoryLayout layout = new MemoryLayout(ram);
        memory = layout.allocate();
        return layout;
    }

    private static SyntheticElf twoSegments() {
        SyntheticElf elf = new SyntheticElf();
        elf.segment(0x10_0000, SyntheticElf.pattern(5000, 1), 5000);
        elf.segment(0x20_0000, SyntheticElf.pattern(300, 2), 0x3000);   // 300 bytes of data, then bss
        elf.entry = 0x10_0010;
        elf.pvhEntry = 0x10_0100;
        return elf;
    }

    @Test
    void loadsSegmentsAtPhysicalAddressesAndZeroesBss() throws IOException {
        MemoryLayout layout = machine(16 * MIB);
        // stale data from an "earlier boot" where the bss goes: the loader must clear it
        byte[] junk = new byte[0x3000];
        Arrays.fill(junk, (byte) 0xAA);
        memory.write(0x20_0000, junk, 0, junk.length);

        ElfLoader.Loaded l = ElfLoader.load(twoSegments().write(dir, "guest.elf"), null, "hello=1", memory, layout);

        byte[] first = new byte[5000];
        memory.read(0x10_0000, first, 0, first.length);
        assertArrayEquals(SyntheticElf.pattern(5000, 1), first);
        byte[] second = new byte[300];
        memory.read(0x20_0000, second, 0, second.length);
        assertArrayEquals(SyntheticElf.pattern(300, 2), second);
        for (long a = 0x20_0000 + 300; a < 0x20_3000; a++) {
            assertEquals(0, memory.read8(a), "bss byte at 0x" + Long.toHexString(a));
        }
        assertEquals(0x10_0010, l.entry());
        assertEquals(0x10_0100, l.image().pvhEntry().getAsLong());
        assertEquals(2, l.segments().size());
        assertEquals(new AddressRange("segment 2", 0x20_0000, 0x20_3000), l.segments().get(1));

        long zp = MemoryLayout.ZERO_PAGE_ADDR;
        assertEquals(layout.e820().size(), memory.read8(zp + ZeroPage.E820_ENTRIES));
        assertEquals(E820Entry.RESERVED, memory.read32(zp + ZeroPage.E820_TABLE + E820Entry.SIZE + 16));
        assertEquals(MemoryLayout.CMDLINE_ADDR, memory.read32(zp + ZeroPage.CMD_LINE_PTR));
        assertEquals('h', memory.read8(MemoryLayout.CMDLINE_ADDR));
        assertEquals(0, memory.read8(MemoryLayout.CMDLINE_ADDR + 7));
    }

    @Test
    void imageWithoutNoteHasNoPvhEntry() throws IOException {
        MemoryLayout layout = machine(16 * MIB);
        SyntheticElf elf = twoSegments();
        elf.pvhEntry = -1;
        assertFalse(ElfLoader.load(elf.write(dir, "g.elf"), null, "", memory, layout).image().pvhEntry().isPresent());
    }

    @Test
    void initrdGoesAboveTheImageAtTheTopOfLowRam() throws IOException {
        MemoryLayout layout = machine(16 * MIB);
        Path initrd = dir.resolve("initrd");
        Files.write(initrd, SyntheticElf.pattern(10_000, 9));
        ElfLoader.Loaded l = ElfLoader.load(twoSegments().write(dir, "g.elf"), initrd, "", memory, layout);
        assertEquals(MemoryLayout.alignDown(16 * MIB - 10_000, MemoryLayout.PAGE), l.initrd().start());
        assertEquals(l.initrd().start(), memory.read32(MemoryLayout.ZERO_PAGE_ADDR + ZeroPage.RAMDISK_IMAGE));
        assertEquals(10_000, memory.read32(MemoryLayout.ZERO_PAGE_ADDR + ZeroPage.RAMDISK_SIZE));
        assertEquals((byte) (5 * 13 + 9), (byte) memory.read8(l.initrd().start() + 5));
    }

    @Test
    void virtualEntryIsTranslatedThroughItsSegment() throws IOException {
        MemoryLayout layout = machine(16 * MIB);
        SyntheticElf elf = new SyntheticElf();
        elf.segments.add(new SyntheticElf.Seg(0xFFFF_FFFF_8000_0000L, 0x30_0000, SyntheticElf.pattern(64, 3), 64));
        elf.entry = 0xFFFF_FFFF_8000_0020L;
        assertEquals(0x30_0020, ElfLoader.load(elf.write(dir, "g.elf"), null, "", memory, layout).entry());
    }

    // ---- errors ----------------------------------------------------------------------------

    private String failure(SyntheticElf elf, long ram) throws IOException {
        MemoryLayout layout = machine(ram);
        Path kernel = elf.write(dir, "g.elf");
        return assertThrows(BootException.class, () -> ElfLoader.load(kernel, null, "", memory, layout)).getMessage()
                .replace(dir.toString(), "DIR");
    }

    @Test
    void elf32IsRefused() throws IOException {
        SyntheticElf elf = twoSegments();
        elf.elfClass = 1;
        assertEquals("kernel DIR/g.elf is a 32-bit (ELFCLASS32) ELF: jvmm loads 64-bit x86-64 executables only", failure(elf, 16 * MIB));
    }

    @Test
    void bigEndianIsRefused() throws IOException {
        SyntheticElf elf = twoSegments();
        elf.dataEncoding = 2;
        assertEquals("kernel DIR/g.elf is a big-endian ELF: jvmm loads little-endian x86-64 executables only", failure(elf, 16 * MIB));
    }

    @Test
    void otherMachineIsRefused() throws IOException {
        SyntheticElf elf = twoSegments();
        elf.machine = 183;
        assertEquals("kernel DIR/g.elf is an ELF for machine 183 (AArch64), not x86-64 (62)", failure(elf, 16 * MIB));
    }

    @Test
    void sharedObjectIsNotAnExecutable() throws IOException {
        SyntheticElf elf = twoSegments();
        elf.type = 3;
        assertEquals("kernel DIR/g.elf is not an ELF executable: e_type is 3 (ET_DYN, a shared object or PIE), jvmm needs ET_EXEC (2)",
                failure(elf, 16 * MIB));
    }

    @Test
    void segmentOutsideRam() throws IOException {
        SyntheticElf elf = twoSegments();
        elf.segment(0x200_0000, SyntheticElf.pattern(16, 4), 16);   // 32 MiB in a 16 MiB machine
        assertEquals("kernel DIR/g.elf: segment 3 [0x2000000-0x2000010) is outside guest RAM "
                + "(ram 16M (low [0x0-0x1000000)), mmio32 [0xc0000000-0xfec00000), mmio64 [0x1000000000-0x2000000000)); "
                + "raise -m or link the image lower", failure(elf, 16 * MIB));
    }

    @Test
    void segmentInTheBootArea() throws IOException {
        SyntheticElf elf = new SyntheticElf();
        elf.segment(0x8000, SyntheticElf.pattern(16, 4), 16);
        elf.entry = 0x8000;
        assertEquals("kernel DIR/g.elf: segment 0 [0x8000-0x8010) is below 1 MiB, where jvmm keeps its boot structures; "
                + "link the image at 1 MiB or above", failure(elf, 16 * MIB));
    }

    @Test
    void segmentAbove4GiB() throws IOException {
        SyntheticElf elf = new SyntheticElf();
        elf.segment(0x1_0000_0000L, SyntheticElf.pattern(16, 4), 16);
        elf.entry = 0x1_0000_0000L;
        assertEquals("kernel DIR/g.elf: segment 0 [0x100000000-0x100000010) is outside the identity-mapped first 4 GiB",
                failure(elf, 16 * MIB));
    }

    @Test
    void entryOutsideSegments() throws IOException {
        SyntheticElf elf = twoSegments();
        elf.entry = 0x50_0000;
        assertEquals("kernel DIR/g.elf: entry point 0x500000 is not inside any PT_LOAD segment", failure(elf, 16 * MIB));
    }

    @Test
    void fileDataPastTheEnd() throws IOException {
        MemoryLayout layout = machine(16 * MIB);
        byte[] bytes = twoSegments().build();
        Path kernel = dir.resolve("cut.elf");
        Files.write(kernel, Arrays.copyOf(bytes, bytes.length - 100));
        String m = assertThrows(BootException.class, () -> ElfLoader.load(kernel, null, "", memory, layout)).getMessage();
        assertTrue(m.matches("kernel .*cut.elf is truncated: segment 2 needs file bytes \\[0x[0-9a-f]+, \\+0x12c\\) but the file has \\d+"), m);
    }

    @Test
    void noLoadableSegment() throws IOException {
        SyntheticElf elf = new SyntheticElf();
        elf.pvhEntry = 0x100000;   // only a note
        assertEquals("kernel DIR/g.elf has no PT_LOAD segment to load", failure(elf, 16 * MIB));
    }

    @Test
    void tooSmallForImageAndInitrd() throws IOException {
        MemoryLayout layout = machine(4 * MIB);
        SyntheticElf elf = new SyntheticElf();
        elf.segment(0x10_0000, SyntheticElf.pattern(16, 4), 0x28_0000);   // bss up to 3.5 MiB
        elf.entry = 0x10_0000;
        Path kernel = elf.write(dir, "g.elf");
        Path initrd = dir.resolve("initrd");
        Files.write(initrd, new byte[MIB_INT]);
        String m = assertThrows(BootException.class, () -> ElfLoader.load(kernel, initrd, "", memory, layout)).getMessage()
                .replace(dir.toString(), "DIR");
        assertEquals("-m 4M is too small for kernel DIR/g.elf and initrd DIR/initrd: the image ends at 0x380000, "
                + "the initrd needs 1.0 MiB above it and low RAM ends at 0x400000", m);
    }

    private static final int MIB_INT = (int) MIB;
}
