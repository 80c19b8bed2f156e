package io.jvmm.pci;

import io.jvmm.chardev.SharedMemory;
import io.jvmm.pci.dispatch.IoHandler;
import java.util.Objects;

/**
 * A base address register a device implements: what it decodes, how large it is (a power of
 * two: at least 4 bytes and at most 256 for I/O, at least 16 for memory), whether it is
 * prefetchable (memory only), and the handler its accesses go to (offsets relative to the BAR).
 *
 * <p>A RAM BAR ({@link #ram}) is backed by shared memory: the machine maps it into the guest where
 * it can (a KVM memory slot; an mmap-able region for a vfio-user client), so guest accesses do
 * not trap; accesses that do reach the VMM go to the memory through {@code handler}.
 *
 * @param ram the shared memory behind a RAM BAR, or null for a trapped (register) BAR
 */
public record BarDefinition(BarKind kind, long size, boolean prefetchable, IoHandler handler, SharedMemory ram) {

    /** Largest I/O BAR the PCI spec allows (6.2.5.1). */
    public static final long MAX_IO_SIZE = 256;
    public static final long MAX_MEM32_SIZE = 1L << 31;
    /** Half the 52-bit MMIO space: larger could never be placed. */
    public static final long MAX_MEM64_SIZE = 1L << 51;

    public BarDefinition(BarKind kind, long size, boolean prefetchable, IoHandler handler) {
        this(kind, size, prefetchable, handler, null);
    }

    public BarDefinition {
        Objects.requireNonNull(kind, "kind");
        Objects.requireNonNull(handler, "handler");
        if (Long.bitCount(size) != 1) {
            throw new IllegalArgumentException(kind + " BAR size must be a power of two, got " + size);
        }
        long min = kind == BarKind.IO ? 4 : 16;
        long max = switch (kind) {
            case IO -> MAX_IO_SIZE;
            case MEM32 -> MAX_MEM32_SIZE;
            case MEM64 -> MAX_MEM64_SIZE;
        };
        if (size < min || size > max) {
            throw new IllegalArgumentException(kind + " BAR size must be in " + min + ".." + max + ", got " + size);
        }
        if (prefetchable && kind == BarKind.IO) {
            throw new IllegalArgumentException("an IO BAR cannot be prefetchable");
        }
        if (ram != null && (kind == BarKind.IO || ram.size() != size)) {
            throw new IllegalArgumentException("a RAM BAR must be a memory BAR of its memory's size (" + ram + ", " + kind + " of " + size + ")");
        }
    }

    /**
     * A memory BAR whose contents are {@code memory} (its size, which must be a power of two of at
     * least 4 KiB so it can be mapped page by page).
     */
    public static BarDefinition ram(BarKind kind, SharedMemory memory, boolean prefetchable) {
        Objects.requireNonNull(memory, "memory");
        if (memory.size() < 4096 || Long.bitCount(memory.size()) != 1) {
            throw new IllegalArgumentException("a RAM BAR's memory must be a power of two of at least 4 KiB, got "
                    + memory.size() + " bytes (" + memory.name() + ")");
        }
        return new BarDefinition(kind, memory.size(), prefetchable, new RamBarHandler(memory), memory);
    }

    /** Whether the BAR is shared memory rather than registers. */
    public boolean isRam() {
        return ram != null;
    }

    public static BarDefinition io(long size, IoHandler handler) {
        return new BarDefinition(BarKind.IO, size, false, handler);
    }

    public static BarDefinition mem32(long size, IoHandler handler) {
        return new BarDefinition(BarKind.MEM32, size, false, handler);
    }

    public static BarDefinition mem64(long size, boolean prefetchable, IoHandler handler) {
        return new BarDefinition(BarKind.MEM64, size, prefetchable, handler);
    }

    /** The read-only low bits of the (lower) BAR register: space, type and prefetchable. */
    int typeBits() {
        return switch (kind) {
            case IO -> ConfigRegisters.BAR_IO_SPACE;
            case MEM32 -> prefetchable ? ConfigRegisters.BAR_MEM_PREFETCHABLE : 0;
            case MEM64 -> ConfigRegisters.BAR_MEM_TYPE_64 | (prefetchable ? ConfigRegisters.BAR_MEM_PREFETCHABLE : 0);
        };
    }

    /** Writable bits of the (lower) BAR register: the address bits at or above the size. */
    int lowWritableBits() {
        int addressBits = kind == BarKind.IO ? 0xFFFFFFFC : 0xFFFFFFF0;
        return (int) (addressBits & ~(size - 1));
    }

    /** Writable bits of a 64-bit BAR's upper register. */
    int highWritableBits() {
        return (int) ~((size - 1) >>> 32);
    }
}
