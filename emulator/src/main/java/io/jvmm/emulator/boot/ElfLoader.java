package io.jvmm.emulator.boot;

import io.jvmm.pci.mem.GuestMemory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

/**
 * Loads a 64-bit x86-64 ELF executable: each PT_LOAD segment at its physical address (p_paddr),
 * its bss zeroed, then the initrd (if any) as high as it fits in low RAM, the command line and a
 * zero page carrying the e820 map, command line and initrd fields. Segments must lie in RAM between
 * 1 MiB and 4 GiB: below 1 MiB are jvmm's boot structures, above 4 GiB nothing is identity-mapped.
 */
public final class ElfLoader {
    private static final Logger log = LoggerFactory.getLogger(ElfLoader.class);

    /** What was loaded where; {@code entry} is the physical (= identity-mapped virtual) entry point. */
    public record Loaded(ElfImage image, long entry, List<AddressRange> segments, AddressRange initrd,
                         AddressRange cmdline, long zeroPage) {
    }

    private ElfLoader() {
    }

    public static Loaded load(Path kernel, Path initrd, String cmdline, GuestMemory memory, MemoryLayout layout) {
        try (FileChannel file = FileChannel.open(kernel, StandardOpenOption.READ)) {
            ElfImage image = ElfImage.read(kernel, file);
            long entry = image.physicalEntry();
            checkSegments(image, layout);
            if (entry >= PageTables.IDENTITY_LIMIT) {
                throw new BootException(String.format("kernel %s: entry point 0x%x is above the identity-mapped 4 GiB", kernel, entry));
            }
            byte[] cmdBytes = CommandLine.encode(cmdline, MemoryLayout.CMDLINE_AREA - 1);
            long imageEnd = 0;
            for (ElfImage.Segment s : image.segments()) {
                imageEnd = Math.max(imageEnd, s.paddrEnd());
            }
            long initrdSize = initrd == null ? 0 : InitrdPlacement.size(initrd);
            long initrdAt = 0;
            if (initrd != null) {
                initrdAt = InitrdPlacement.highest(initrdSize, MemoryLayout.alignUp(imageEnd, MemoryLayout.PAGE), layout.lowRamEnd());
                if (initrdAt < 0) {
                    throw new BootException(String.format(
                            "-m %s is too small for kernel %s and initrd %s: the image ends at 0x%x, the initrd needs %s above it "
                                    + "and low RAM ends at 0x%x",
                            MemoryLayout.human(layout.ramSize()), kernel, initrd, imageEnd,
                            LinuxLoader.sizeText(initrdSize), layout.lowRamEnd()));
                }
            }

            List<AddressRange> ranges = new ArrayList<>();
            for (ElfImage.Segment s : image.segments()) {
                GuestMemoryUtil.readFile(file, s.offset(), memory, s.paddr(), s.fileSize());
                GuestMemoryUtil.zero(memory, s.paddr() + s.fileSize(), s.memSize() - s.fileSize());
                ranges.add(new AddressRange("segment " + s.index(), s.paddr(), s.paddrEnd()));
            }
            AddressRange initrdRange = initrd == null ? null : InitrdPlacement.load(initrd, initrdSize, initrdAt, memory);
            AddressRange cmdRange = CommandLine.write(cmdBytes, memory);

            ZeroPage zp = new ZeroPage();
            zp.put8(ZeroPage.TYPE_OF_LOADER, ZeroPage.LOADER_UNDEFINED);
            zp.setCommandLine(cmdRange.start());
            if (initrdRange != null) {
                zp.setRamdisk(initrdRange.start(), initrdRange.size());
            }
            zp.setE820(layout.e820());
            zp.write(memory, MemoryLayout.ZERO_PAGE_ADDR);
            log.debug("ELF {}: {} segments {}, entry 0x{}{}", kernel, ranges.size(), ranges, Long.toHexString(entry),
                    image.pvhEntry().isPresent() ? String.format(", PVH entry 0x%x", image.pvhEntry().getAsLong()) : "");
            return new Loaded(image, entry, List.copyOf(ranges), initrdRange, cmdRange, MemoryLayout.ZERO_PAGE_ADDR);
        } catch (IOException e) {
            throw new BootException("cannot read kernel " + kernel + ": " + e.getMessage(), e);
        }
    }

    private static void checkSegments(ElfImage image, MemoryLayout layout) {
        for (ElfImage.Segment s : image.segments()) {
            String where = String.format("kernel %s: segment %d [0x%x-0x%x)", image.file(), s.index(), s.paddr(), s.paddr() + s.memSize());
            if (s.paddr() < 0 || s.memSize() > PageTables.IDENTITY_LIMIT || s.paddr() >= PageTables.IDENTITY_LIMIT
                    || s.paddrEnd() > PageTables.IDENTITY_LIMIT) {
                throw new BootException(where + " is outside the identity-mapped first 4 GiB");
            }
            if (s.paddr() < MemoryLayout.KERNEL_ADDR) {
                throw new BootException(where + " is below 1 MiB, where jvmm keeps its boot structures; link the image at 1 MiB or above");
            }
            if (!layout.isRam(s.paddr(), s.memSize())) {
                throw new BootException(where + " is outside guest RAM (" + layout + "); raise -m or link the image lower");
            }
        }
    }
}
