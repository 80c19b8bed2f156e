package io.jvmm.emulator.boot;

import io.jvmm.pci.mem.GuestMemory;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;

/**
 * The "zero page" (struct boot_params, 4 KiB) built in a host buffer and copied into the guest in
 * one go. Only the fields jvmm sets are named here; offsets are those of the x86 boot protocol.
 * A freestanding ELF guest gets the same page (e820 map, command line and initrd fields), so it
 * finds its memory map exactly where Linux would.
 */
public final class ZeroPage {
    public static final int SIZE = 4096;
    public static final int EXT_RAMDISK_IMAGE = 0x0C0;
    public static final int EXT_RAMDISK_SIZE = 0x0C4;
    public static final int EXT_CMD_LINE_PTR = 0x0C8;
    public static final int E820_ENTRIES = 0x1E8;
    public static final int SETUP_HEADER = 0x1F1;
    /** The setup header must end before edd_mbr_sig_buffer. */
    public static final int SETUP_HEADER_LIMIT = 0x290;
    public static final int VID_MODE = 0x1FA;
    public static final int HEADER_MAGIC = 0x202;
    public static final int VERSION = 0x206;
    public static final int TYPE_OF_LOADER = 0x210;
    public static final int LOADFLAGS = 0x211;
    public static final int CODE32_START = 0x214;
    public static final int RAMDISK_IMAGE = 0x218;
    public static final int RAMDISK_SIZE = 0x21C;
    public static final int CMD_LINE_PTR = 0x228;
    public static final int CMDLINE_SIZE = 0x238;
    public static final int E820_TABLE = 0x2D0;
    public static final int E820_MAX_ENTRIES = 128;

    /** "Undefined" boot loader: we have no assigned id. */
    public static final int LOADER_UNDEFINED = 0xFF;
    /** vid_mode "normal": the kernel must not ask the (absent) BIOS for a video mode. */
    public static final int VID_MODE_NORMAL = 0xFFFF;

    private final ByteBuffer page = ByteBuffer.allocate(SIZE).order(ByteOrder.LITTLE_ENDIAN);

    /** Copies a kernel's setup header (bytes 0x1f1 up to its end) into place. */
    public void copySetupHeader(byte[] image, int headerEnd) {
        if (headerEnd <= SETUP_HEADER || headerEnd > SETUP_HEADER_LIMIT || headerEnd > image.length) {
            throw new IllegalArgumentException(String.format("setup header end 0x%x outside (0x%x, 0x%x]",
                    headerEnd, SETUP_HEADER, SETUP_HEADER_LIMIT));
        }
        page.put(SETUP_HEADER, image, SETUP_HEADER, headerEnd - SETUP_HEADER);
    }

    public void setE820(List<E820Entry> entries) {
        if (entries.size() > E820_MAX_ENTRIES) {
            throw new IllegalArgumentException("e820 map has " + entries.size() + " entries; the zero page holds " + E820_MAX_ENTRIES);
        }
        page.put(E820_ENTRIES, (byte) entries.size());
        int at = E820_TABLE;
        for (E820Entry e : entries) {
            page.putLong(at, e.address());
            page.putLong(at + 8, e.size());
            page.putInt(at + 16, e.type());
            at += E820Entry.SIZE;
        }
    }

    public void setCommandLine(long address) {
        page.putInt(CMD_LINE_PTR, (int) address);
        page.putInt(EXT_CMD_LINE_PTR, (int) (address >>> 32));
    }

    public void setRamdisk(long address, long size) {
        page.putInt(RAMDISK_IMAGE, (int) address);
        page.putInt(RAMDISK_SIZE, (int) size);
        page.putInt(EXT_RAMDISK_IMAGE, (int) (address >>> 32));
        page.putInt(EXT_RAMDISK_SIZE, (int) (size >>> 32));
    }

    public void put8(int offset, int value) {
        page.put(offset, (byte) value);
    }

    public void put16(int offset, int value) {
        page.putShort(offset, (short) value);
    }

    public void put32(int offset, long value) {
        page.putInt(offset, (int) value);
    }

    public int get8(int offset) {
        return Byte.toUnsignedInt(page.get(offset));
    }

    public long get32(int offset) {
        return Integer.toUnsignedLong(page.getInt(offset));
    }

    /** Writes the whole page (zeros included) at {@code address}. */
    public void write(GuestMemory memory, long address) {
        memory.write(address, page.array(), 0, SIZE);
    }
}
