package io.jvmm.chardev.nativ;

import com.kenai.jffi.MemoryIO;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Small per-thread native buffers for building C structs (msghdr, sockaddr_un, epoll_event...).
 * One per thread means no locking and no allocation per system call; each buffer is only used
 * between the start and the end of one wrapper call, never across calls or re-entrantly.
 */
final class ScratchMemory {
    static final int SIZE = 4096;

    private static final ThreadLocal<ScratchMemory> PER_THREAD = ThreadLocal.withInitial(ScratchMemory::new);

    final ByteBuffer buffer = ByteBuffer.allocateDirect(SIZE).order(ByteOrder.nativeOrder());
    final long address = MemoryIO.getInstance().getDirectBufferAddress(buffer);

    private ScratchMemory() {
    }

    static ScratchMemory get() {
        ScratchMemory s = PER_THREAD.get();
        s.buffer.clear();
        return s;
    }

    /** Zeroes [offset, offset + length). */
    void zero(int offset, int length) {
        for (int i = 0; i < length; i++) {
            buffer.put(offset + i, (byte) 0);
        }
    }
}
