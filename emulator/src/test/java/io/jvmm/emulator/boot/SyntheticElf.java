package io.jvmm.emulator.boot;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Builds a small ELF64 file in a test: PT_LOAD segments with chosen addresses, optional PVH note. */
final class SyntheticElf {
    record Seg(long vaddr, long paddr, byte[] data, long memSize) {
    }

    int elfClass = 2;
    int dataEncoding = 1;
    int type = ElfImage.ET_EXEC;
    int machine = ElfImage.EM_X86_64;
    long entry;
    final List<Seg> segments = new ArrayList<>();
    /** PVH entry to put in a Xen note; negative: no note. */
    long pvhEntry = -1;
    /** Write an unrelated note before the Xen one, to check the scan walks notes. */
    boolean extraNote = true;

    SyntheticElf segment(long address, byte[] data, long memSize) {
        segments.add(new Seg(address, address, data, memSize));
        return this;
    }

    static byte[] pattern(int length, int seed) {
        byte[] d = new byte[length];
        for (int i = 0; i < length; i++) {
            d[i] = (byte) (i * 13 + seed);
        }
        return d;
    }

    byte[] build() {
        byte[] notes = notes();
        int phnum = segments.size() + (notes.length > 0 ? 1 : 0);
        int phoff = 64;
        int dataStart = phoff + phnum * 56;
        int total = dataStart + notes.length;
        for (Seg s : segments) {
            total += s.data().length;
        }
        ByteBuffer b = ByteBuffer.allocate(total).order(ByteOrder.LITTLE_ENDIAN);
        b.put(new byte[] {0x7F, 'E', 'L', 'F', (byte) elfClass, (byte) dataEncoding, 1, 0});
        b.position(16);
        b.putShort((short) type);
        b.putShort((short) machine);
        b.putInt(1);
        b.putLong(entry);
        b.putLong(phoff);
        b.putLong(0);                // no section headers
        b.putInt(0);
        b.putShort((short) 64);
        b.putShort((short) 56);
        b.putShort((short) phnum);
        b.putShort((short) 64);
        b.putShort((short) 0);
        b.putShort((short) 0);
        int data = dataStart;
        int ph = phoff;
        if (notes.length > 0) {
            phdr(b, ph, ElfImage.PT_NOTE, 4, data, 0, 0, notes.length, notes.length);
            b.put(data, notes);
            data += notes.length;
            ph += 56;
        }
        for (Seg s : segments) {
            phdr(b, ph, ElfImage.PT_LOAD, 5, data, s.vaddr(), s.paddr(), s.data().length, s.memSize());
            b.put(data, s.data());
            data += s.data().length;
            ph += 56;
        }
        return b.array();
    }

    private static void phdr(ByteBuffer b, int at, int type, int flags, long offset, long vaddr, long paddr, long filesz, long memsz) {
        b.putInt(at, type);
        b.putInt(at + 4, flags);
        b.putLong(at + 8, offset);
        b.putLong(at + 16, vaddr);
        b.putLong(at + 24, paddr);
        b.putLong(at + 32, filesz);
        b.putLong(at + 40, memsz);
        b.putLong(at + 48, 0x1000);
    }

    private byte[] notes() {
        if (pvhEntry < 0) {
            return new byte[0];
        }
        ByteBuffer n = ByteBuffer.allocate(64).order(ByteOrder.LITTLE_ENDIAN);
        if (extraNote) {   // "GNU\0" build-id style note, 8 bytes of descriptor
            n.putInt(4).putInt(8).putInt(3).put(new byte[] {'G', 'N', 'U', 0}).putLong(0x1122334455667788L);
        }
        n.putInt(4).putInt(4).putInt(ElfImage.XEN_ELFNOTE_PHYS32_ENTRY).put(new byte[] {'X', 'e', 'n', 0}).putInt((int) pvhEntry);
        byte[] out = new byte[n.position()];
        n.flip();
        n.get(out);
        return out;
    }

    Path write(Path dir, String name) throws IOException {
        Path p = dir.resolve(name);
        Files.write(p, build());
        return p;
    }
}
