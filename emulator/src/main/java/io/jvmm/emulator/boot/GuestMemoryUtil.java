package io.jvmm.emulator.boot;

import io.jvmm.pci.mem.GuestMemory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;

/** Bulk helpers the loaders share: zero fill and chunked file reads into guest memory. */
final class GuestMemoryUtil {
    /** Chunk for bulk operations: far below the 2 GiB a single ByteBuffer can address. */
    private static final int CHUNK = 64 << 20;
    private static final ByteBuffer ZEROS = ByteBuffer.allocateDirect(1 << 16);

    private GuestMemoryUtil() {
    }

    /** Zeroes [address, address+length); memory may hold data from an earlier boot. */
    static void zero(GuestMemory memory, long address, long length) {
        long done = 0;
        while (done < length) {
            int n = (int) Math.min(CHUNK, length - done);
            ByteBuffer target = memory.slice(address + done, n);
            while (target.hasRemaining()) {
                ByteBuffer z = ZEROS.duplicate();
                z.limit(Math.min(z.capacity(), target.remaining()));
                target.put(z);
            }
            done += n;
        }
    }

    /** Reads {@code length} bytes at {@code position} of a file into guest memory, in chunks. */
    static void readFile(FileChannel file, long position, GuestMemory memory, long address, long length) throws IOException {
        long done = 0;
        while (done < length) {
            int n = (int) Math.min(CHUNK, length - done);
            memory.readFromFile(file, position + done, address + done, n);
            done += n;
        }
    }
}
