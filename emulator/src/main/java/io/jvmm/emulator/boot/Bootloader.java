package io.jvmm.emulator.boot;

import io.jvmm.pci.mem.GuestMemory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.OptionalLong;

/**
 * The one entry point of x86 direct boot: detects the image format by its magic (bzImage "HdrS" at
 * 0x202, ELF "\x7fELF" at 0), loads it with its initrd and command line, writes the structures every
 * vCPU needs (GDT, identity page tables, MP table, zeroed stacks) and returns the plan the machine
 * turns into KVM register state.
 */
public final class Bootloader {
    private static final Logger log = LoggerFactory.getLogger(Bootloader.class);

    private Bootloader() {
    }

    /**
     * Loads {@code kernel} into {@code memory}, which must back every RAM range of {@code layout}.
     *
     * @param initrdOrNull an initrd/initramfs, or null
     * @param cmdline      the kernel command line (null: empty)
     * @throws BootException with a user-facing message when anything cannot be booted
     */
    public static BootPlan load(Path kernel, Path initrdOrNull, String cmdline, GuestMemory memory, MemoryLayout layout, int cpus) {
        if (cpus < 1 || cpus > MemoryLayout.MAX_CPUS) {
            throw new BootException("-smp " + cpus + ": jvmm boots 1 to " + MemoryLayout.MAX_CPUS + " vCPUs");
        }
        for (AddressRange r : layout.ramRanges()) {
            if (!memory.isValid(r.start(), r.size())) {
                throw new IllegalArgumentException("guest memory " + memory.regions() + " does not back " + r + " of layout " + layout);
            }
        }
        BootKind kind = detect(kernel);
        if (initrdOrNull != null && !Files.isRegularFile(initrdOrNull)) {
            throw new BootException("initrd " + initrdOrNull + " does not exist or is not a regular file");
        }

        // Memory may hold an earlier boot's data: clear the areas whose zeros the guest relies on.
        GuestMemoryUtil.zero(memory, MemoryLayout.BOOT_AREA_START, MemoryLayout.BOOT_AREA_END - MemoryLayout.BOOT_AREA_START);
        // The legacy area too: guests scan it for "_MP_" and "RSD PTR ", so no stale signature may stay.
        GuestMemoryUtil.zero(memory, MemoryLayout.LEGACY_START, MemoryLayout.KERNEL_ADDR - MemoryLayout.LEGACY_START);

        List<AddressRange> ranges = new ArrayList<>();
        long entry;
        OptionalLong pvh = OptionalLong.empty();
        String description;
        Gdt gdt;
        if (kind == BootKind.LINUX) {
            LinuxLoader.Loaded l = LinuxLoader.load(kernel, initrdOrNull, cmdline, memory, layout);
            entry = l.entry();
            gdt = Gdt.forLinux();
            SetupHeader h = l.header();
            description = String.format("bzImage %s (protocol %s%s)", kernel, h.versionText(),
                    h.kernelVersion().isEmpty() ? "" : ", " + h.kernelVersion());
            ranges.add(l.kernel());
            ranges.add(l.kernelFootprint());
            if (l.initrd() != null) {
                ranges.add(l.initrd());
            }
            ranges.add(l.cmdline());
        } else {
            ElfLoader.Loaded l = ElfLoader.load(kernel, initrdOrNull, cmdline, memory, layout);
            entry = l.entry();
            pvh = l.image().pvhEntry();
            gdt = Gdt.forElf();
            description = "ELF " + kernel;
            ranges.addAll(l.segments());
            if (l.initrd() != null) {
                ranges.add(l.initrd());
            }
            ranges.add(l.cmdline());
        }
        ranges.add(new AddressRange("zero page", MemoryLayout.ZERO_PAGE_ADDR, MemoryLayout.ZERO_PAGE_ADDR + ZeroPage.SIZE));

        gdt.write(memory);
        long cr3 = PageTables.write(memory);
        AddressRange mp = MpTable.write(memory, cpus);
        ranges.add(mp);
        ranges.add(new AddressRange("stacks", MemoryLayout.STACKS_ADDR, MemoryLayout.stackTop(cpus - 1)));

        List<BootCpuState> states = new ArrayList<>();
        int started = kind == BootKind.LINUX ? 1 : cpus;
        for (int i = 0; i < started; i++) {
            long rdi = kind == BootKind.ELF ? i : 0;
            long rdx = kind == BootKind.ELF ? cpus : 0;
            states.add(BootCpuState.longMode(i, entry, MemoryLayout.stackTop(i), MemoryLayout.ZERO_PAGE_ADDR, rdi, rdx, cr3, gdt));
        }
        BootPlan plan = new BootPlan(kind, cpus, states, entry, MemoryLayout.ZERO_PAGE_ADDR, pvh, description, ranges);
        log.info("boot: {}", plan.describe());
        return plan;
    }

    /** The image kind by magic, or a BootException saying what the file is not. */
    public static BootKind detect(Path kernel) {
        if (!Files.isRegularFile(kernel)) {
            throw new BootException("kernel " + kernel + " does not exist or is not a regular file");
        }
        byte[] head = new byte[SetupHeader.HEAD_BYTES];
        int n;
        try (InputStream in = Files.newInputStream(kernel)) {
            n = in.readNBytes(head, 0, head.length);
        } catch (IOException e) {
            throw new BootException("cannot read kernel " + kernel + ": " + e.getMessage(), e);
        }
        if (ElfImage.hasMagic(head, n)) {
            return BootKind.ELF;
        }
        if (SetupHeader.hasMagic(head, n)) {
            return BootKind.LINUX;
        }
        throw new BootException(String.format(
                "kernel %s is neither a bzImage (no \"HdrS\" at offset 0x202) nor an ELF executable (no \\x7fELF at offset 0); "
                        + "it is %d bytes starting with %s",
                kernel, sizeOf(kernel), n == 0 ? "nothing" : HexFormat.ofDelimiter(" ").formatHex(head, 0, Math.min(n, 8))));
    }

    private static long sizeOf(Path file) {
        try {
            return Files.size(file);
        } catch (IOException e) {
            return -1;
        }
    }
}
