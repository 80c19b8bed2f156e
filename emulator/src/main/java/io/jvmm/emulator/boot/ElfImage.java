package io.jvmm.emulator.boot;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;

/**
 * A 64-bit little-endian x86-64 ELF executable as far as a loader needs it: its PT_LOAD segments,
 * its entry point and, if present, the PVH entry from a Xen ELF note (XEN_ELFNOTE_PHYS32_ENTRY),
 * which lets QEMU boot the same file with -kernel.
 */
public record ElfImage(Path file, long fileSize, long entry, List<Segment> segments, OptionalLong pvhEntry) {
    public static final int PT_LOAD = 1;
    public static final int PT_NOTE = 4;
    public static final int ET_EXEC = 2;
    public static final int EM_X86_64 = 62;
    public static final int XEN_ELFNOTE_PHYS32_ENTRY = 18;
    static final int HEADER_SIZE = 64;
    static final int PHDR_SIZE = 56;
    /** More program headers than any sane image has; bounds what a corrupt header can make us read. */
    static final int MAX_PHDRS = 4096;
    /** Notes bigger than this are not PVH notes; skip rather than allocate. */
    static final long MAX_NOTE_SEGMENT = 1 << 20;

    /** One PT_LOAD segment: file bytes [offset, offset+fileSize) go to paddr; the rest to memSize is zeroed. */
    public record Segment(int index, long offset, long vaddr, long paddr, long fileSize, long memSize, int flags) {
        public long paddrEnd() {
            return paddr + memSize;
        }
    }

    /** Whether the first bytes of a file carry the ELF magic. */
    public static boolean hasMagic(byte[] head, int length) {
        return length >= 4 && head[0] == 0x7F && head[1] == 'E' && head[2] == 'L' && head[3] == 'F';
    }

    /** Parses and checks the image; does not look at guest memory. */
    public static ElfImage read(Path file, FileChannel channel) throws IOException {
        long size = channel.size();
        ByteBuffer h = readAt(channel, 0, (int) Math.min(HEADER_SIZE, size));
        byte[] ident = new byte[Math.min(16, h.limit())];
        h.get(0, ident);
        if (!hasMagic(ident, ident.length)) {
            throw new BootException("kernel " + file + " is not an ELF file (no \\x7fELF magic)");
        }
        if (h.limit() < HEADER_SIZE) {
            throw new BootException(String.format("kernel %s is truncated: %d bytes, shorter than an ELF64 header", file, size));
        }
        if (ident[4] != 2) {
            throw new BootException(String.format("kernel %s is a %s ELF: jvmm loads 64-bit x86-64 executables only",
                    file, ident[4] == 1 ? "32-bit (ELFCLASS32)" : "class " + ident[4]));
        }
        if (ident[5] != 1) {
            throw new BootException("kernel " + file + " is a big-endian ELF: jvmm loads little-endian x86-64 executables only");
        }
        int type = Short.toUnsignedInt(h.getShort(16));
        int machine = Short.toUnsignedInt(h.getShort(18));
        if (machine != EM_X86_64) {
            throw new BootException(String.format("kernel %s is an ELF for machine %d (%s), not x86-64 (62)",
                    file, machine, machineName(machine)));
        }
        if (type != ET_EXEC) {
            throw new BootException(String.format("kernel %s is not an ELF executable: e_type is %d (%s), jvmm needs ET_EXEC (2)",
                    file, type, typeName(type)));
        }
        long entry = h.getLong(24);
        long phoff = h.getLong(32);
        int phentsize = Short.toUnsignedInt(h.getShort(54));
        int phnum = Short.toUnsignedInt(h.getShort(56));
        if (phnum == 0 || phnum > MAX_PHDRS || phentsize < PHDR_SIZE) {
            throw new BootException(String.format("kernel %s has no usable program headers (e_phnum %d, e_phentsize %d)",
                    file, phnum, phentsize));
        }
        if (phoff < 0 || phoff > size || (long) phnum * phentsize > size - phoff) {
            throw new BootException(String.format("kernel %s is truncated: its program headers at 0x%x run past the end of the file (%d bytes)",
                    file, phoff, size));
        }
        ByteBuffer ph = readAt(channel, phoff, phnum * phentsize);
        List<Segment> segments = new ArrayList<>();
        OptionalLong pvh = OptionalLong.empty();
        for (int i = 0; i < phnum; i++) {
            int at = i * phentsize;
            int pType = ph.getInt(at);
            long offset = ph.getLong(at + 8);
            long fileSz = ph.getLong(at + 32);
            if ((pType == PT_LOAD || pType == PT_NOTE) && (offset < 0 || fileSz < 0 || offset > size || fileSz > size - offset)) {
                throw new BootException(String.format("kernel %s is truncated: segment %d needs file bytes [0x%x, +0x%x) but the file has %d",
                        file, i, offset, fileSz, size));
            }
            if (pType == PT_LOAD) {
                long memSz = ph.getLong(at + 40);
                if (fileSz > memSz || memSz < 0) {
                    throw new BootException(String.format("kernel %s: segment %d has p_filesz 0x%x larger than p_memsz 0x%x",
                            file, i, fileSz, memSz));
                }
                if (memSz > 0) {
                    segments.add(new Segment(i, offset, ph.getLong(at + 16), ph.getLong(at + 24), fileSz, memSz, ph.getInt(at + 4)));
                }
            } else if (pType == PT_NOTE && pvh.isEmpty() && fileSz <= MAX_NOTE_SEGMENT) {
                pvh = pvhEntry(readAt(channel, offset, (int) fileSz));
            }
        }
        if (segments.isEmpty()) {
            throw new BootException("kernel " + file + " has no PT_LOAD segment to load");
        }
        return new ElfImage(file, size, entry, List.copyOf(segments), pvh);
    }

    /** The physical address of the entry point: e_entry translated through the segment holding it. */
    public long physicalEntry() {
        for (Segment s : segments) {
            if (entry >= s.vaddr() && entry - s.vaddr() < s.memSize()) {
                return s.paddr() + (entry - s.vaddr());
            }
        }
        throw new BootException(String.format("kernel %s: entry point 0x%x is not inside any PT_LOAD segment", file, entry));
    }

    /** Scans ELF notes for Xen's PHYS32_ENTRY (4- or 8-byte descriptor). */
    static OptionalLong pvhEntry(ByteBuffer notes) {
        int at = 0;
        while (notes.limit() - at >= 12) {
            long nameSize = Integer.toUnsignedLong(notes.getInt(at));
            long descSize = Integer.toUnsignedLong(notes.getInt(at + 4));
            int type = notes.getInt(at + 8);
            long nameAt = at + 12L;
            long descAt = nameAt + align4(nameSize);
            long next = descAt + align4(descSize);
            if (next > notes.limit()) {
                return OptionalLong.empty();   // a malformed note ends the scan; the image may still load
            }
            if (type == XEN_ELFNOTE_PHYS32_ENTRY && isXen(notes, (int) nameAt, (int) nameSize)) {
                if (descSize == 4) {
                    return OptionalLong.of(Integer.toUnsignedLong(notes.getInt((int) descAt)));
                }
                if (descSize == 8) {
                    return OptionalLong.of(notes.getLong((int) descAt));
                }
            }
            at = (int) next;
        }
        return OptionalLong.empty();
    }

    private static boolean isXen(ByteBuffer notes, int at, int size) {
        if (size != 4) {
            return false;
        }
        byte[] name = new byte[4];
        notes.get(at, name);
        return new String(name, 0, 3, StandardCharsets.US_ASCII).equals("Xen") && name[3] == 0;
    }

    private static long align4(long v) {
        return (v + 3) & ~3L;
    }

    private static ByteBuffer readAt(FileChannel channel, long position, int length) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(length).order(ByteOrder.LITTLE_ENDIAN);
        while (b.hasRemaining()) {
            if (channel.read(b, position + b.position()) < 0) {
                break;
            }
        }
        b.flip();
        return b;
    }

    private static String machineName(int machine) {
        switch (machine) {
            case 3: return "i386";
            case 40: return "ARM";
            case 183: return "AArch64";
            case 243: return "RISC-V";
            default: return "unknown";
        }
    }

    private static String typeName(int type) {
        switch (type) {
            case 1: return "ET_REL, an object file";
            case 3: return "ET_DYN, a shared object or PIE";
            case 4: return "ET_CORE, a core dump";
            default: return "unknown";
        }
    }
}
