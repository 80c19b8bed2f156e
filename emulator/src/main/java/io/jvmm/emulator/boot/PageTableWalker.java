package io.jvmm.emulator.boot;

import io.jvmm.pci.mem.GuestMemory;

import java.util.OptionalLong;

/**
 * Translates a guest-virtual address through 4-level x86-64 page tables in guest memory, as the
 * CPU would (4 KiB, 2 MiB and 1 GiB pages). Used to check the boot tables and to show where a
 * failing vCPU's RIP really points.
 */
public final class PageTableWalker {
    private static final long ADDRESS_MASK = 0x000F_FFFF_FFFF_F000L;

    private PageTableWalker() {
    }

    /** The physical address for {@code virtual}, or empty when a level is not present. */
    public static OptionalLong translate(GuestMemory memory, long cr3, long virtual) {
        long table = cr3 & ADDRESS_MASK;
        for (int level = 4; level >= 1; level--) {
            int shift = 12 + 9 * (level - 1);
            long index = (virtual >>> shift) & 0x1FF;
            long entryAddress = table + index * 8;
            if (!memory.isValid(entryAddress, 8)) {
                return OptionalLong.empty();
            }
            long entry = memory.read64(entryAddress);
            if ((entry & PageTables.PRESENT) == 0) {
                return OptionalLong.empty();
            }
            boolean large = (level == 2 || level == 3) && (entry & PageTables.LARGE) != 0;
            if (large || level == 1) {
                long pageMask = (1L << shift) - 1;
                return OptionalLong.of((entry & ADDRESS_MASK & ~pageMask) | (virtual & pageMask));
            }
            table = entry & ADDRESS_MASK;
        }
        throw new AssertionError("unreachable");
    }
}
