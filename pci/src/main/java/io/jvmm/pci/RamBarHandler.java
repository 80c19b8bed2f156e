package io.jvmm.pci;

import io.jvmm.chardev.SharedMemory;
import io.jvmm.pci.dispatch.IoCompletion;
import io.jvmm.pci.dispatch.IoHandler;
import java.nio.ByteBuffer;
import java.util.concurrent.CompletableFuture;

/**
 * The trapped path of a RAM BAR: accesses that do reach the VMM (the no-CPU machine, a vfio-user
 * client's REGION_READ/WRITE) read and write the shared memory directly, so they see exactly what a
 * guest with the memory mapped (KVM slot, client mmap) and a host peer see.
 */
final class RamBarHandler implements IoHandler {
    private final SharedMemory memory;

    RamBarHandler(SharedMemory memory) {
        this.memory = memory;
    }

    @Override
    public long read(long offset, int size) {
        ByteBuffer b = view(offset);
        int at = (int) (offset % SharedMemory.WINDOW_SIZE);
        if (at > b.limit() - size) {   // a misaligned access across a 1 GiB window: byte by byte
            long value = 0;
            for (int i = 0; i < size; i++) {
                value |= read(offset + i, 1) << (8 * i);
            }
            return value;
        }
        return switch (size) {
            case 1 -> b.get(at) & 0xffL;
            case 2 -> b.getShort(at) & 0xffffL;
            case 4 -> b.getInt(at) & 0xffffffffL;
            default -> b.getLong(at);
        };
    }

    @Override
    public CompletableFuture<Void> write(long offset, int size, long value) {
        ByteBuffer b = view(offset);
        int at = (int) (offset % SharedMemory.WINDOW_SIZE);
        if (at > b.limit() - size) {
            for (int i = 0; i < size; i++) {
                write(offset + i, 1, value >>> (8 * i));
            }
            return IoCompletion.DONE;
        }
        switch (size) {
            case 1 -> b.put(at, (byte) value);
            case 2 -> b.putShort(at, (short) value);
            case 4 -> b.putInt(at, (int) value);
            default -> b.putLong(at, value);
        }
        return IoCompletion.DONE;
    }

    /** The 1 GiB window holding {@code offset}. */
    private ByteBuffer view(long offset) {
        return memory.window((int) (offset / SharedMemory.WINDOW_SIZE));
    }
}
