package io.jvmm.emulator.boot;

import io.jvmm.chardev.SharedMemory;
import io.jvmm.pci.mem.GuestMemory;

import java.util.ArrayList;
import java.util.List;

/**
 * The guest-physical address map of a jvmm x86 machine, derived from the RAM size. This class is
 * the one place that says where everything goes:
 *
 * <pre>
 * 0x0000_0000 - 0x0000_0fff  RAM   real-mode IVT/BDA page, left zero
 * 0x0000_1000 - 0x0008_ffff  reserved: jvmm boot structures
 *     0x1000  GDT                     0x2000  TSS (zeroed; a guest installs its own)
 *     0x7000  zero page (boot_params) 0x8000  command line (at most 4095 bytes + NUL)
 *     0x9000  PML4   0xa000 PDPT   0xb000-0xefff four page directories (2 MiB pages, 0-4 GiB)
 *     0x1_0000 - 0x8_ffff  vCPU stacks, 16 KiB each (vCPU i: top at 0x10000 + (i+1) * 16 KiB)
 * 0x0009_0000 - 0x0009_ffff  RAM
 * 0x000a_0000 - 0x000f_ffff  reserved: legacy VGA/BIOS area; the MP table at 0xf_0000
 * 0x0010_0000 - lowRamEnd    RAM: the kernel (1 MiB or its preferred address), the initrd at the top
 * 0xc000_0000 - 0xffff_ffff  PCI hole, absent from e820:
 *     0xc000_0000 - 0xfebf_ffff  32-bit MMIO window for BARs
 *     0xfec0_0000 IOAPIC     0xfee0_0000 local APIC
 *     0xfffb_c000 - 0xfffb_ffff  KVM identity-map page and TSS pages (reserved in e820)
 * 0x1_0000_0000 - ...        RAM above 4 GiB when -m is larger than 3 GiB
 * max(64 GiB, top of RAM rounded up to 1 GiB), 64 GiB long: 64-bit MMIO window for BARs
 * </pre>
 *
 * <p>RAM below the hole is at most 3 GiB; the rest starts at 4 GiB. All boot structures live below
 * 1 MiB and are reserved in e820, so neither a freestanding guest nor Linux reuses them while they
 * are still needed.
 */
public final class MemoryLayout {
    public static final long KIB = 1024;
    public static final long MIB = KIB * KIB;
    public static final long GIB = MIB * KIB;
    public static final long PAGE = 4 * KIB;

    public static final long PCI_HOLE_START = 0xC000_0000L;
    public static final long PCI_HOLE_END = 0x1_0000_0000L;
    /** RAM below the PCI hole is at most this much. */
    public static final long LOW_RAM_MAX = PCI_HOLE_START;
    public static final long MMIO32_START = 0xC000_0000L;
    public static final long MMIO32_END = 0xFEC0_0000L;
    public static final long IOAPIC_BASE = 0xFEC0_0000L;
    public static final long LAPIC_BASE = 0xFEE0_0000L;
    /** For KVM_SET_IDENTITY_MAP_ADDR (one page), just below the KVM TSS. */
    public static final long KVM_IDENTITY_MAP_ADDR = 0xFFFB_C000L;
    /** For KVM_SET_TSS_ADDR (three pages). */
    public static final long KVM_TSS_ADDR = 0xFFFB_D000L;
    public static final long KVM_PRIVATE_END = 0xFFFC_0000L;
    public static final long HIGH_RAM_START = 0x1_0000_0000L;
    public static final long MMIO64_MIN_START = 64 * GIB;
    public static final long MMIO64_SIZE = 64 * GIB;

    public static final long GDT_ADDR = 0x1000;
    public static final long TSS_ADDR = 0x2000;
    /** Size of the zeroed TSS page's used part: a 64-bit TSS is 104 bytes. */
    public static final long TSS_LIMIT = 0x67;
    public static final long ZERO_PAGE_ADDR = 0x7000;
    public static final long CMDLINE_ADDR = 0x8000;
    /** Room for the command line including its terminating NUL. */
    public static final int CMDLINE_AREA = 0x1000;
    public static final long PML4_ADDR = 0x9000;
    public static final long PDPT_ADDR = 0xA000;
    public static final long PD_ADDR = 0xB000;
    public static final int PD_COUNT = 4;
    public static final long STACKS_ADDR = 0x1_0000;
    public static final long STACK_SIZE = 16 * KIB;
    public static final int MAX_CPUS = 32;
    public static final long BOOT_AREA_START = GDT_ADDR;
    public static final long BOOT_AREA_END = STACKS_ADDR + MAX_CPUS * STACK_SIZE;   // 0x9_0000
    public static final long LEGACY_START = 0xA_0000;
    public static final long MP_TABLE_ADDR = 0xF_0000;
    /** Where a bzImage's protected-mode kernel goes by default, and the lowest address an ELF may use. */
    public static final long KERNEL_ADDR = MIB;
    /** Below this no useful guest fits: the boot area, the legacy hole and at least 1 MiB of image. */
    public static final long MIN_RAM = 2 * MIB;

    private final long ramSize;
    private final long lowRamSize;
    private final long highRamSize;
    private final long mmio64Start;

    public MemoryLayout(long ramSize) {
        if (ramSize < MIN_RAM) {
            throw new BootException(String.format(
                    "-m %s is too small: jvmm needs at least %d MiB (boot structures below 1 MiB plus the guest image)",
                    human(ramSize), MIN_RAM / MIB));
        }
        if (ramSize % PAGE != 0) {
            throw new BootException(String.format("-m %d bytes is not a multiple of 4 KiB", ramSize));
        }
        this.ramSize = ramSize;
        this.lowRamSize = Math.min(ramSize, LOW_RAM_MAX);
        this.highRamSize = ramSize - lowRamSize;
        long topOfRam = highRamSize > 0 ? HIGH_RAM_START + highRamSize : lowRamSize;
        this.mmio64Start = Math.max(MMIO64_MIN_START, alignUp(topOfRam, GIB));
    }

    public long ramSize() {
        return ramSize;
    }

    /** RAM at guest address 0. */
    public long lowRamSize() {
        return lowRamSize;
    }

    /** End (exclusive) of the RAM below the PCI hole. */
    public long lowRamEnd() {
        return lowRamSize;
    }

    /** RAM at {@link #HIGH_RAM_START}; 0 when everything fits below the hole. */
    public long highRamSize() {
        return highRamSize;
    }

    public long mmio64Start() {
        return mmio64Start;
    }

    public long mmio64End() {
        return mmio64Start + MMIO64_SIZE;
    }

    /** The RAM ranges the machine must back with memory, lowest first. */
    public List<AddressRange> ramRanges() {
        List<AddressRange> ranges = new ArrayList<>();
        ranges.add(new AddressRange("ram-low", 0, lowRamSize));
        if (highRamSize > 0) {
            ranges.add(new AddressRange("ram-high", HIGH_RAM_START, HIGH_RAM_START + highRamSize));
        }
        return ranges;
    }

    /** New guest memory with one memfd-backed region per {@link #ramRanges() RAM range}. */
    public GuestMemory allocate() {
        GuestMemory memory = new GuestMemory();
        for (AddressRange r : ramRanges()) {
            memory.addRegion(r.name(), r.start(), SharedMemory.create(r.name(), r.size()));
        }
        return memory;
    }

    /** Whether [address, address+length) is guest RAM (not the hole, not past the end). */
    public boolean isRam(long address, long length) {
        if (address < 0 || length < 0) {
            return false;
        }
        for (AddressRange r : ramRanges()) {
            if (address >= r.start() && length <= r.end() - address) {
                return true;
            }
        }
        return false;
    }

    /** Top of the stack of vCPU {@code index} (16-byte aligned; the stack grows down from it). */
    public static long stackTop(int index) {
        if (index < 0 || index >= MAX_CPUS) {
            throw new IllegalArgumentException("vCPU index " + index + " outside 0.." + (MAX_CPUS - 1));
        }
        return STACKS_ADDR + (index + 1L) * STACK_SIZE;
    }

    /**
     * The e820 map: RAM, the reserved boot area and legacy hole below 1 MiB, RAM up to the PCI hole,
     * the KVM private pages reserved, RAM above 4 GiB. The hole itself is absent, so the guest sees
     * it as free address space for PCI.
     */
    public List<E820Entry> e820() {
        List<E820Entry> map = new ArrayList<>();
        map.add(new E820Entry(0, BOOT_AREA_START, E820Entry.RAM));
        map.add(new E820Entry(BOOT_AREA_START, BOOT_AREA_END - BOOT_AREA_START, E820Entry.RESERVED));
        map.add(new E820Entry(BOOT_AREA_END, LEGACY_START - BOOT_AREA_END, E820Entry.RAM));
        map.add(new E820Entry(LEGACY_START, KERNEL_ADDR - LEGACY_START, E820Entry.RESERVED));
        map.add(new E820Entry(KERNEL_ADDR, lowRamSize - KERNEL_ADDR, E820Entry.RAM));
        map.add(new E820Entry(KVM_IDENTITY_MAP_ADDR, KVM_PRIVATE_END - KVM_IDENTITY_MAP_ADDR, E820Entry.RESERVED));
        if (highRamSize > 0) {
            map.add(new E820Entry(HIGH_RAM_START, highRamSize, E820Entry.RAM));
        }
        return map;
    }

    @Override
    public String toString() {
        return String.format("ram %s (low [0x0-0x%x)%s), mmio32 [0x%x-0x%x), mmio64 [0x%x-0x%x)",
                human(ramSize), lowRamSize,
                highRamSize > 0 ? String.format(", high [0x%x-0x%x)", HIGH_RAM_START, HIGH_RAM_START + highRamSize) : "",
                MMIO32_START, MMIO32_END, mmio64Start, mmio64End());
    }

    static long alignUp(long value, long alignment) {
        return (value + alignment - 1) & -alignment;
    }

    static long alignDown(long value, long alignment) {
        return value & -alignment;
    }

    /** A byte count as the user would write it for -m. */
    static String human(long bytes) {
        if (bytes >= GIB && bytes % GIB == 0) {
            return bytes / GIB + "G";
        }
        if (bytes >= MIB && bytes % MIB == 0) {
            return bytes / MIB + "M";
        }
        if (bytes >= KIB && bytes % KIB == 0) {
            return bytes / KIB + "K";
        }
        return bytes + " bytes";
    }
}
