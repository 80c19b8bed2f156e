package io.jvmm.testkit.driver.pci;

import io.jvmm.testkit.driver.GuestDriverException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;

import static io.jvmm.testkit.driver.pci.PciRegisters.*;

/**
 * Sizes, places and programs BARs as PC firmware does: I/O ports from 0xC000, 32-bit memory
 * from 0xE000_0000 (below the local APIC / MSI window at 0xFEE0_0000), 64-bit memory above RAM
 * from 0x80_0000_0000; every BAR naturally aligned to its size. Thread-safe.
 */
public final class BarAllocator {
    private static final Logger log = LoggerFactory.getLogger(BarAllocator.class);

    public static final long IO_BASE = 0xC000;
    public static final long IO_LIMIT = 0x10000;
    public static final long MEM32_BASE = 0xE000_0000L;
    public static final long MEM32_LIMIT = 0xFEC0_0000L;
    public static final long MEM64_BASE = 0x80_0000_0000L;
    public static final long MEM64_LIMIT = 1L << 52;

    private long nextIo = IO_BASE;
    private long nextMem32 = MEM32_BASE;
    private long nextMem64 = MEM64_BASE;

    /**
     * Sizes every BAR of {@code fn} (with decoding off, restoring each register), places and
     * programs them, then turns on I/O and memory decoding as needed and bus mastering.
     *
     * @return the assigned BARs (also kept by {@code fn})
     * @throws GuestDriverException if a window is exhausted or a BAR does not keep its address
     */
    public List<Bar> assign(PciFunction fn) {
        List<Bar> sized = size(fn);
        List<Bar> assigned = new ArrayList<>();
        for (Bar bar : sized) {
            Bar placed = bar.withAddress(place(fn, bar));
            program(fn, placed);
            assigned.add(placed);
        }
        fn.setBars(assigned);
        enable(fn, assigned);
        log.debug("{}: {}", fn, assigned);
        return assigned;
    }

    /** Sizes the BARs by writing all ones and reading back; decoding is off meanwhile. */
    public List<Bar> size(PciFunction fn) {
        int command = fn.command();
        fn.write16(COMMAND, command & ~(COMMAND_IO | COMMAND_MEMORY));
        List<Bar> bars = new ArrayList<>();
        try {
            for (int i = 0; i < 6; i++) {
                int reg = BAR0 + 4 * i;
                int original = fn.read32(reg);
                fn.write32(reg, -1);
                int probe = fn.read32(reg);
                fn.write32(reg, original);
                if (probe == 0) {
                    continue;   // not implemented
                }
                if ((probe & 1) != 0) {
                    long mask = probe & 0xFFFF_FFFCL;
                    if ((mask & 0xFFFF_0000L) == 0) {
                        mask |= 0xFFFF_0000L;   // a 16-bit I/O decoder leaves the upper half zero
                    }
                    bars.add(new Bar(i, BarKind.IO, (~mask + 1) & 0xFFFF_FFFFL, false, -1));
                    continue;
                }
                boolean prefetchable = (probe & 8) != 0;
                int type = (probe >>> 1) & 3;
                if (type == 0) {
                    bars.add(new Bar(i, BarKind.MEM32, (~(probe & 0xFFFF_FFF0L) + 1) & 0xFFFF_FFFFL, prefetchable, -1));
                } else if (type == 2) {
                    if (i == 5) {
                        throw new GuestDriverException(fn + ": BAR5 claims to be 64-bit but has no upper register");
                    }
                    int upperReg = reg + 4;
                    int upperOriginal = fn.read32(upperReg);
                    fn.write32(upperReg, -1);
                    long upperProbe = fn.read32(upperReg) & 0xFFFF_FFFFL;
                    fn.write32(upperReg, upperOriginal);
                    long mask = (upperProbe << 32) | (probe & 0xFFFF_FFF0L);
                    bars.add(new Bar(i, BarKind.MEM64, ~mask + 1, prefetchable, -1));
                    i++;   // the upper half is not a BAR of its own
                } else {
                    throw new GuestDriverException(String.format("%s: BAR%d has reserved memory type %d", fn, i, type));
                }
            }
        } finally {
            fn.write16(COMMAND, command);
        }
        for (Bar bar : bars) {
            if (Long.bitCount(bar.size()) != 1) {
                throw new GuestDriverException(fn + ": " + bar + " has a size that is not a power of two");
            }
        }
        return bars;
    }

    private synchronized long place(PciFunction fn, Bar bar) {
        long size = bar.size();
        long address;
        switch (bar.kind()) {
            case IO:
                address = align(nextIo, size);
                checkWindow(fn, bar, address, IO_LIMIT);
                nextIo = address + size;
                return address;
            case MEM32:
                address = align(nextMem32, size);
                checkWindow(fn, bar, address, MEM32_LIMIT);
                nextMem32 = address + size;
                return address;
            default:
                address = align(nextMem64, size);
                checkWindow(fn, bar, address, MEM64_LIMIT);
                nextMem64 = address + size;
                return address;
        }
    }

    private static void checkWindow(PciFunction fn, Bar bar, long address, long limit) {
        if (address + bar.size() > limit || address + bar.size() < address) {
            throw new GuestDriverException(String.format("%s: no room for %s below 0x%x", fn, bar, limit));
        }
    }

    private static long align(long value, long alignment) {
        return (value + alignment - 1) & -alignment;
    }

    private static void program(PciFunction fn, Bar bar) {
        int reg = BAR0 + 4 * bar.index();
        fn.write32(reg, (int) bar.address());
        if (bar.kind() == BarKind.MEM64) {
            fn.write32(reg + 4, (int) (bar.address() >>> 32));
        }
        long readBack = (bar.kind() == BarKind.IO ? fn.read32(reg) & 0xFFFF_FFFCL : fn.read32(reg) & 0xFFFF_FFF0L);
        if (bar.kind() == BarKind.MEM64) {
            readBack |= (fn.read32(reg + 4) & 0xFFFF_FFFFL) << 32;
        }
        if (readBack != bar.address()) {
            throw new GuestDriverException(String.format("%s: BAR%d programmed with 0x%x reads back 0x%x",
                    fn, bar.index(), bar.address(), readBack));
        }
    }

    private static void enable(PciFunction fn, List<Bar> bars) {
        int command = fn.command() | COMMAND_BUS_MASTER;
        for (Bar bar : bars) {
            command |= bar.kind() == BarKind.IO ? COMMAND_IO : COMMAND_MEMORY;
        }
        fn.write16(COMMAND, command);
        int readBack = fn.command();
        if ((readBack & command) != command) {
            throw new GuestDriverException(String.format("%s: command register written 0x%x reads back 0x%x", fn, command, readBack));
        }
    }
}
