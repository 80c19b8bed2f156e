package io.jvmm.emulator.boot;

import io.jvmm.pci.mem.GuestMemory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static io.jvmm.emulator.boot.MemoryLayout.MIB;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(60)
class LinuxLoaderTest {
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

    private Path initrd(int size, long seed) throws IOException {
        byte[] data = new byte[size];
        new Random(seed).nextBytes(data);
        Path p = dir.resolve("initrd-" + size);
        Files.write(p, data);
        return p;
    }

    private Path sparse(String name, long size) throws IOException {
        Path p = dir.resolve(name);
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
            f.setLength(size);
        }
        return p;
    }

    private String readCString(long address) {
        StringBuilder s = new StringBuilder();
        for (long a = address; memory.read8(a) != 0; a++) {
            s.append((char) memory.read8(a));
        }
        return s.toString();
    }

    private List<E820Entry> e820FromZeroPage() {
        long zp = MemoryLayout.ZERO_PAGE_ADDR;
        int n = memory.read8(zp + ZeroPage.E820_ENTRIES);
        List<E820Entry> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            long at = zp + ZeroPage.E820_TABLE + (long) i * E820Entry.SIZE;
            out.add(new E820Entry(memory.read64(at), memory.read64(at + 8), memory.read32(at + 16)));
        }
        return out;
    }

    @Test
    void loadsKernelInitrdCommandLineAndZeroPage() throws IOException {
        MemoryLayout layout = machine(64 * MIB);
        SyntheticBzImage img = new SyntheticBzImage();
        Path kernel = img.write(dir, "bzImage");
        Path initrd = initrd(300_000, 1);
        String cmdline = "console=ttyS0 root=/dev/vda jvmm.cmd=\"echo hi\"";

        LinuxLoader.Loaded l = LinuxLoader.load(kernel, initrd, cmdline, memory, layout);

        // relocatable, pref_address 16 MiB aligned and fitting: loaded in place
        assertEquals(0x100_0000, l.loadAddress());
        assertEquals(0x100_0200, l.entry());
        for (int i = 0; i < img.payloadSize; i += 997) {
            assertEquals(SyntheticBzImage.payloadByte(i), memory.read8(0x100_0000 + i), "payload byte " + i);
        }
        assertEquals(new AddressRange("kernel footprint", 0x100_0000, 0x100_0000 + img.initSize), l.kernelFootprint());

        long zp = MemoryLayout.ZERO_PAGE_ADDR;
        assertEquals(zp, l.zeroPage());
        assertEquals(SetupHeader.MAGIC, memory.read32(zp + 0x202), "setup header copied");
        assertEquals(0x020F, memory.read16(zp + 0x206));
        assertEquals(0x20_0000, memory.read32(zp + 0x230), "kernel_alignment copied");
        assertEquals(0xFF, memory.read8(zp + ZeroPage.TYPE_OF_LOADER));
        assertEquals(0xFFFF, memory.read16(zp + ZeroPage.VID_MODE));
        assertEquals(0x100_0000, memory.read32(zp + ZeroPage.CODE32_START));
        assertEquals(0, memory.read8(zp + 0x300), "nothing past the header is copied");

        long cmdPtr = Integer.toUnsignedLong(memory.read32(zp + ZeroPage.CMD_LINE_PTR));
        assertEquals(MemoryLayout.CMDLINE_ADDR, cmdPtr);
        assertEquals(cmdline, readCString(cmdPtr));

        long rdImage = Integer.toUnsignedLong(memory.read32(zp + ZeroPage.RAMDISK_IMAGE));
        long rdSize = Integer.toUnsignedLong(memory.read32(zp + ZeroPage.RAMDISK_SIZE));
        assertEquals(300_000, rdSize);
        assertEquals(0, rdImage % MemoryLayout.PAGE, "page aligned");
        assertEquals(MemoryLayout.alignDown(64 * MIB - 300_000, MemoryLayout.PAGE), rdImage, "highest fitting address");
        assertEquals(0, memory.read32(zp + ZeroPage.EXT_RAMDISK_IMAGE));
        byte[] loaded = new byte[300_000];
        memory.read(rdImage, loaded, 0, loaded.length);
        assertArrayEquals(Files.readAllBytes(initrd), loaded);

        assertEquals(layout.e820(), e820FromZeroPage());
    }

    @Test
    void initrdStaysBelowInitrdAddrMax() throws IOException {
        MemoryLayout layout = machine(64 * MIB);
        SyntheticBzImage img = new SyntheticBzImage();
        img.initrdAddrMax = 32 * MIB - 1;
        LinuxLoader.Loaded l = LinuxLoader.load(img.write(dir, "bzImage"), initrd(5000, 2), "", memory, layout);
        assertEquals(32 * MIB - MemoryLayout.PAGE * 2, l.initrd().start());
        assertTrue(l.initrd().end() <= 32 * MIB);
        assertEquals("", readCString(MemoryLayout.CMDLINE_ADDR));
    }

    @Test
    void unalignedPreferredAddressFallsBackToOneMiB() throws IOException {
        MemoryLayout layout = machine(64 * MIB);
        SyntheticBzImage img = new SyntheticBzImage();
        img.prefAddress = 0x110_0000;   // not a multiple of kernel_alignment (2 MiB)
        LinuxLoader.Loaded l = LinuxLoader.load(img.write(dir, "bzImage"), null, "", memory, layout);
        assertEquals(MemoryLayout.KERNEL_ADDR, l.loadAddress());
        assertEquals(MemoryLayout.KERNEL_ADDR + 0x200, l.entry());
        assertEquals(0x10_0000, memory.read32(MemoryLayout.ZERO_PAGE_ADDR + ZeroPage.CODE32_START));
        assertEquals(SyntheticBzImage.payloadByte(5), memory.read8(MemoryLayout.KERNEL_ADDR + 5));
        // the kernel will run at max(align_up(1 MiB, 2 MiB), pref_address)
        assertEquals(0x110_0000 + img.initSize, l.kernelFootprint().end());
        assertEquals(0, memory.read32(MemoryLayout.ZERO_PAGE_ADDR + ZeroPage.RAMDISK_IMAGE));
        assertEquals(0, memory.read32(MemoryLayout.ZERO_PAGE_ADDR + ZeroPage.RAMDISK_SIZE));
    }

    @Test
    void nonRelocatableKernelIsLoadedAtOneMiBAndRunsAtItsPreferredAddress() throws IOException {
        MemoryLayout layout = machine(64 * MIB);
        SyntheticBzImage img = new SyntheticBzImage();
        img.relocatable = false;
        LinuxLoader.Loaded l = LinuxLoader.load(img.write(dir, "bzImage"), null, "", memory, layout);
        assertEquals(MemoryLayout.KERNEL_ADDR, l.loadAddress());
        assertEquals(0x100_0000 + img.initSize, l.kernelFootprint().end());
    }

    // ---- errors: one clear message each ------------------------------------------------------

    private String failure(SyntheticBzImage img, Path initrd, String cmdline, long ram) throws IOException {
        MemoryLayout layout = machine(ram);
        Path kernel = img.write(dir, "bzImage");
        return assertThrows(BootException.class, () -> LinuxLoader.load(kernel, initrd, cmdline, memory, layout)).getMessage()
                .replace(dir.toString(), "DIR");
    }

    @Test
    void protocolTooOld() throws IOException {
        SyntheticBzImage img = new SyntheticBzImage();
        img.version = 0x0205;
        assertEquals("kernel DIR/bzImage uses boot protocol 2.05, which is too old: jvmm needs 2.06 or newer",
                failure(img, null, "", 64 * MIB));
    }

    @Test
    void no64BitEntry() throws IOException {
        SyntheticBzImage img = new SyntheticBzImage();
        img.xloadflags = 0x2;
        assertEquals("kernel DIR/bzImage (boot protocol 2.15) has no 64-bit entry point (XLF_KERNEL_64 not set in xloadflags): "
                + "jvmm starts kernels in 64-bit mode and needs an x86-64 kernel with protocol 2.12 or newer",
                failure(img, null, "", 64 * MIB));
    }

    @Test
    void protocolBeforeXloadflagsHasNo64BitEntry() throws IOException {
        SyntheticBzImage img = new SyntheticBzImage();
        img.version = 0x020A;   // the xloadflags bytes are ignored below 2.12 even if set
        assertTrue(failure(img, null, "", 64 * MIB).contains("(boot protocol 2.10) has no 64-bit entry point"));
    }

    @Test
    void zImageIsRefused() throws IOException {
        SyntheticBzImage img = new SyntheticBzImage();
        img.loadflags = 0;
        assertEquals("kernel DIR/bzImage is a zImage (LOADED_HIGH clear in loadflags): jvmm boots bzImages only",
                failure(img, null, "", 64 * MIB));
    }

    @Test
    void badBootFlag() throws IOException {
        SyntheticBzImage img = new SyntheticBzImage();
        img.bootFlag = 0x1234;
        assertEquals("kernel DIR/bzImage is not a bzImage: boot_flag at 0x1fe is 0x1234, expected 0xaa55",
                failure(img, null, "", 64 * MIB));
    }

    @Test
    void missingMagic() throws IOException {
        SyntheticBzImage img = new SyntheticBzImage();
        img.magic = 0x12345678;
        assertEquals("kernel DIR/bzImage is not a bzImage: no \"HdrS\" magic at offset 0x202", failure(img, null, "", 64 * MIB));
    }

    @Test
    void truncatedKernel() throws IOException {
        SyntheticBzImage img = new SyntheticBzImage();
        img.payloadSize = 0;
        assertEquals("kernel DIR/bzImage is truncated: its setup takes 2560 bytes (setup_sects 4) but the file has 2560",
                failure(img, null, "", 64 * MIB));
    }

    @Test
    void malformedHeaderLength() throws IOException {
        SyntheticBzImage img = new SyntheticBzImage();
        img.headerEnd = 0x240;
        assertEquals("kernel DIR/bzImage has a malformed setup header: its jump at 0x200 says the header ends at 0x240",
                failure(img, null, "", 64 * MIB));
    }

    @Test
    void badKernelAlignment() throws IOException {
        SyntheticBzImage img = new SyntheticBzImage();
        img.kernelAlignment = 0x30_0000;
        assertEquals("kernel DIR/bzImage is relocatable but its kernel_alignment 0x300000 is not a power of two >= 4 KiB",
                failure(img, null, "", 64 * MIB));
    }

    @Test
    void nonRelocatableKernelBelowOneMiB() throws IOException {
        SyntheticBzImage img = new SyntheticBzImage();
        img.relocatable = false;
        img.prefAddress = 0x8_0000;
        assertEquals("kernel DIR/bzImage is not relocatable and must run at its pref_address 0x80000 (init_size 0x800000), "
                + "which is below 1 MiB, where jvmm keeps its boot structures", failure(img, null, "", 64 * MIB));
    }

    @Test
    void nonRelocatableKernelOutsideRam() throws IOException {
        SyntheticBzImage img = new SyntheticBzImage();
        img.relocatable = false;
        img.prefAddress = 0x4000_0000;
        String m = failure(img, null, "", 64 * MIB);
        assertTrue(m.startsWith("kernel DIR/bzImage is not relocatable and must run at its pref_address 0x40000000 (init_size 0x800000), "
                + "which is not inside guest RAM (ram 64M"), m);
    }

    @Test
    void memoryTooSmallForKernel() throws IOException {
        SyntheticBzImage img = new SyntheticBzImage();   // runs at 16 MiB with init_size 8 MiB
        assertEquals("-m 16M is too small for kernel DIR/bzImage: the kernel needs memory up to 0x1800000 "
                + "(64 KiB image, init_size 8.0 MiB at 0x1000000); use at least -m 24M", failure(img, null, "", 16 * MIB));
    }

    @Test
    void memoryTooSmallForKernelAndInitrd() throws IOException {
        SyntheticBzImage img = new SyntheticBzImage();
        Path initrd = sparse("big-initrd", 10 * MIB);
        String m = failure(img, initrd, "", 32 * MIB);
        assertEquals("-m 32M is too small for kernel DIR/bzImage and initrd DIR/big-initrd: the kernel needs memory up to 0x1800000 "
                + "(64 KiB image, init_size 8.0 MiB at 0x1000000) and the initrd 10.0 MiB above it; use at least -m 34M", m);
    }

    @Test
    void initrdTooBigForInitrdAddrMax() throws IOException {
        SyntheticBzImage img = new SyntheticBzImage();
        img.initrdAddrMax = 32 * MIB - 1;
        Path initrd = sparse("big-initrd", 20 * MIB);
        assertEquals("initrd DIR/big-initrd (20.0 MiB) is too big for kernel DIR/bzImage: it must lie below initrd_addr_max 0x1ffffff "
                + "and the kernel occupies up to 0x1800000, which leaves 8.0 MiB", failure(img, initrd, "", 256 * MIB));
    }

    @Test
    void commandLineLongerThanCmdlineSize() throws IOException {
        SyntheticBzImage img = new SyntheticBzImage();
        img.cmdlineSize = 16;
        assertEquals("the kernel command line is 20 bytes; at most 16 fit (the kernel's cmdline_size)",
                failure(img, null, "0123456789abcdefghij", 64 * MIB));
    }

    @Test
    void commandLineLongerThanOurArea() throws IOException {
        SyntheticBzImage img = new SyntheticBzImage();
        img.cmdlineSize = 100_000;
        String m = failure(img, null, "x".repeat(5000), 64 * MIB);
        assertEquals("the kernel command line is 5000 bytes; at most 4095 fit (jvmm's command-line area)", m);
    }

    @Test
    void missingInitrd() throws IOException {
        SyntheticBzImage img = new SyntheticBzImage();
        String m = failure(img, dir.resolve("nope"), "", 64 * MIB);
        assertTrue(m.startsWith("cannot read initrd DIR/nope"), m);
    }

    @Test
    void headerOnlyParseReportsVersionAndKernelString() throws IOException {
        SetupHeader h = LinuxLoader.readHeader(new SyntheticBzImage().write(dir, "bzImage"));
        assertEquals("2.15", h.versionText());
        assertEquals("6.99.0-synthetic (test@jvmm) #1", h.kernelVersion());
        assertEquals(64 * 1024, h.kernelSize());
        assertEquals(2560, h.kernelOffset());
        assertEquals(0x26C, h.headerEnd());
    }
}
