package io.jvmm.emulator.boot;

import io.jvmm.pci.mem.GuestMemory;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Initrd handling shared by both loaders: the highest page-aligned address at which it fits, and
 * the copy into guest memory. High is where Linux (and boot loaders since LILO) expect it, far from
 * the kernel's decompression area.
 */
final class InitrdPlacement {
    private InitrdPlacement() {
    }

    static long size(Path initrd) {
        try {
            long size = Files.size(initrd);
            if (size == 0) {
                throw new BootException("initrd " + initrd + " is empty");
            }
            return size;
        } catch (IOException e) {
            throw new BootException("cannot read initrd " + initrd + ": " + e.getMessage(), e);
        }
    }

    /** The highest page-aligned start such that [start, start+size) ends at or below {@code ceiling}, or -1. */
    static long highest(long size, long floor, long ceiling) {
        if (ceiling < size) {
            return -1;
        }
        long at = MemoryLayout.alignDown(ceiling - size, MemoryLayout.PAGE);
        return at >= floor ? at : -1;
    }

    static AddressRange load(Path initrd, long size, long address, GuestMemory memory) {
        try (FileChannel file = FileChannel.open(initrd, StandardOpenOption.READ)) {
            if (file.size() != size) {
                throw new BootException("initrd " + initrd + " changed size while being loaded");
            }
            GuestMemoryUtil.readFile(file, 0, memory, address, size);
            return new AddressRange("initrd", address, address + size);
        } catch (IOException e) {
            throw new BootException("cannot read initrd " + initrd + ": " + e.getMessage(), e);
        }
    }
}
