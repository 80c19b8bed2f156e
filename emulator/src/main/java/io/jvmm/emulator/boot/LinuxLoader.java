package io.jvmm.emulator.boot;

import io.jvmm.pci.mem.GuestMemory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

/**
 * Loads a bzImage by the x86 64-bit boot protocol: the protected-mode kernel at its preferred
 * address (when relocatable and it fits) or at 1 MiB, the initrd as high as it may go below
 * min(initrd_addr_max, end of low RAM), the command line, and the zero page with the setup header,
 * type_of_loader 0xff and the e820 map. The entry point is the load address + 0x200.
 */
public final class LinuxLoader {
    private static final Logger log = LoggerFactory.getLogger(LinuxLoader.class);
    /** The kernel's own default run address when pref_address is 0 (LOAD_PHYSICAL_ADDR). */
    static final long DEFAULT_RUN_ADDRESS = 16 * MemoryLayout.MIB;
    /** Read this much of the file up front: the header, plus room for the version string. */
    private static final int HEAD_READ = 32 * 1024;

    /** What was loaded where. */
    public record Loaded(SetupHeader header, long loadAddress, long entry, AddressRange kernel,
                         AddressRange kernelFootprint, AddressRange initrd, AddressRange cmdline, long zeroPage) {
    }

    private LinuxLoader() {
    }

    /** Parses only the header of a bzImage (no guest memory needed). */
    public static SetupHeader readHeader(Path kernel) {
        try (FileChannel file = FileChannel.open(kernel, StandardOpenOption.READ)) {
            return readHeader(kernel, file);
        } catch (IOException e) {
            throw new BootException("cannot read kernel " + kernel + ": " + e.getMessage(), e);
        }
    }

    /** Loads kernel, initrd (may be null), command line and zero page into {@code memory}. */
    public static Loaded load(Path kernel, Path initrd, String cmdline, GuestMemory memory, MemoryLayout layout) {
        try (FileChannel file = FileChannel.open(kernel, StandardOpenOption.READ)) {
            SetupHeader header = readHeader(kernel, file);
            byte[] cmdBytes = CommandLine.encode(cmdline, header.cmdlineSize());
            long initrdSize = initrd == null ? 0 : InitrdPlacement.size(initrd);
            Placement placement = place(header, initrd, initrdSize, layout);

            GuestMemoryUtil.readFile(file, header.kernelOffset(), memory, placement.load, header.kernelSize());
            AddressRange initrdRange = null;
            if (initrd != null) {
                initrdRange = InitrdPlacement.load(initrd, initrdSize, placement.initrdAddress, memory);
            }
            AddressRange cmdRange = CommandLine.write(cmdBytes, memory);

            ZeroPage zp = new ZeroPage();
            zp.copySetupHeader(header.head(), header.headerEnd());
            zp.put8(ZeroPage.TYPE_OF_LOADER, ZeroPage.LOADER_UNDEFINED);
            zp.put16(ZeroPage.VID_MODE, ZeroPage.VID_MODE_NORMAL);
            zp.put32(ZeroPage.CODE32_START, placement.load);
            zp.setCommandLine(cmdRange.start());
            if (initrdRange != null) {
                zp.setRamdisk(initrdRange.start(), initrdRange.size());
            }
            zp.setE820(layout.e820());
            zp.write(memory, MemoryLayout.ZERO_PAGE_ADDR);

            long entry = placement.load + SetupHeader.ENTRY_64_OFFSET;
            AddressRange kernelRange = new AddressRange("kernel", placement.load, placement.load + header.kernelSize());
            log.debug("bzImage {} (protocol {}, {}) at 0x{}, runs at 0x{} (init_size 0x{}), entry 0x{}",
                    kernel, header.versionText(), header.kernelVersion(), Long.toHexString(placement.load),
                    Long.toHexString(placement.runAddress), Long.toHexString(header.initSize()), Long.toHexString(entry));
            return new Loaded(header, placement.load, entry, kernelRange, placement.footprint, initrdRange, cmdRange,
                    MemoryLayout.ZERO_PAGE_ADDR);
        } catch (IOException e) {
            throw new BootException("cannot read kernel " + kernel + ": " + e.getMessage(), e);
        }
    }

    private static SetupHeader readHeader(Path kernel, FileChannel file) throws IOException {
        long size = file.size();
        ByteBuffer head = ByteBuffer.allocate((int) Math.min(HEAD_READ, size));
        while (head.hasRemaining() && file.read(head, head.position()) > 0) {
            // keep reading: a channel may return short counts
        }
        return SetupHeader.parse(kernel, head.array(), head.position(), size);
    }

    /** Where the kernel and the initrd go, and what the kernel will occupy while it starts. */
    private record Placement(long load, long runAddress, AddressRange footprint, long initrdAddress) {
    }

    /**
     * Tries the preferred address first (a relocatable kernel loaded there runs in place), then
     * 1 MiB. A modern relocatable x86-64 kernel runs at max(align_up(load, kernel_alignment),
     * pref_address) whatever the boot protocol text says (its decompressor never goes below
     * LOAD_PHYSICAL_ADDR), so the footprint counts init_size from there.
     */
    static Placement place(SetupHeader h, Path initrd, long initrdSize, MemoryLayout layout) {
        List<Long> candidates = new ArrayList<>();
        long pref = h.prefAddress();
        if (!h.relocatable()) {
            if (pref != 0 && (pref < MemoryLayout.KERNEL_ADDR || !layout.isRam(pref, Math.max(h.initSize(), 1)))) {
                throw new BootException(String.format(
                        "kernel %s is not relocatable and must run at its pref_address 0x%x (init_size 0x%x), which is %s",
                        h.file(), pref, h.initSize(), pref < MemoryLayout.KERNEL_ADDR
                                ? "below 1 MiB, where jvmm keeps its boot structures"
                                : "not inside guest RAM (" + layout + ")"));
            }
        } else if (pref >= MemoryLayout.KERNEL_ADDR && pref % h.kernelAlignment() == 0) {
            candidates.add(pref);
        }
        candidates.add(MemoryLayout.KERNEL_ADDR);

        long lowEnd = layout.lowRamEnd();
        long initrdCeiling = Math.min(h.initrdAddrMax() + 1, lowEnd);
        Placement best = null;
        long footprintEnd = 0;
        for (long load : candidates) {
            long run = runAddress(h, load);
            footprintEnd = Math.max(load + h.kernelSize(), run + h.initSize());
            if (footprintEnd > lowEnd) {
                continue;
            }
            long initrdAt = 0;
            if (initrd != null) {
                initrdAt = InitrdPlacement.highest(initrdSize, footprintEnd, initrdCeiling);
                if (initrdAt < 0) {
                    continue;
                }
            }
            best = new Placement(load, run, new AddressRange("kernel footprint", Math.min(load, run), footprintEnd), initrdAt);
            break;
        }
        if (best != null) {
            return best;
        }
        // Explain with the smallest footprint (the last candidate, 1 MiB).
        long need = MemoryLayout.alignUp(footprintEnd, MemoryLayout.PAGE) + MemoryLayout.alignUp(initrdSize, MemoryLayout.PAGE);
        if (initrd != null && footprintEnd <= lowEnd && h.initrdAddrMax() + 1 < lowEnd) {
            long room = Math.max(0, h.initrdAddrMax() + 1 - footprintEnd);
            throw new BootException(String.format(
                    "initrd %s (%s) is too big for kernel %s: it must lie below initrd_addr_max 0x%x and the kernel occupies up to 0x%x, "
                            + "which leaves %s",
                    initrd, sizeText(initrdSize), h.file(), h.initrdAddrMax(), footprintEnd, sizeText(room)));
        }
        throw new BootException(String.format(
                "-m %s is too small for kernel %s%s: the kernel needs memory up to 0x%x (%s image, init_size %s at 0x%x)%s; "
                        + "use at least -m %dM",
                MemoryLayout.human(layout.ramSize()), h.file(), initrd != null ? " and initrd " + initrd : "",
                footprintEnd, sizeText(h.kernelSize()), sizeText(h.initSize()), runAddress(h, MemoryLayout.KERNEL_ADDR),
                initrd != null ? " and the initrd " + sizeText(initrdSize) + " above it" : "",
                MemoryLayout.alignUp(need, MemoryLayout.MIB) / MemoryLayout.MIB));
    }

    /** Where the kernel runs (decompresses itself to) when loaded at {@code load}. */
    static long runAddress(SetupHeader h, long load) {
        long pref = h.prefAddress() != 0 ? h.prefAddress() : DEFAULT_RUN_ADDRESS;
        if (!h.relocatable()) {
            return pref;
        }
        return Math.max(MemoryLayout.alignUp(load, h.kernelAlignment()), pref);
    }

    static String sizeText(long bytes) {
        if (bytes >= MemoryLayout.MIB) {
            return String.format("%.1f MiB", bytes / (double) MemoryLayout.MIB);
        }
        return String.format("%d KiB", (bytes + 1023) / 1024);
    }
}
