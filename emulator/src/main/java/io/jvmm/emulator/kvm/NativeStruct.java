package io.jvmm.emulator.kvm;

import com.kenai.jffi.MemoryIO;
import java.lang.ref.Reference;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * A zeroed, little-endian native buffer for one ioctl argument struct. Java builds or reads the
 * struct through {@link #buffer()} (bounds-checked by ByteBuffer) and passes {@link #address()}
 * to the kernel. Control-path ioctls are rare, so a fresh buffer per call is simplest; the
 * garbage collector frees it, and {@link #keepAlive()} stops that before the call has returned.
 */
final class NativeStruct {
    private final ByteBuffer buffer;
    private final long address;

    NativeStruct(int size) {
        this.buffer = ByteBuffer.allocateDirect(size).order(ByteOrder.LITTLE_ENDIAN);
        this.address = MemoryIO.getInstance().getDirectBufferAddress(buffer);
    }

    ByteBuffer buffer() {
        return buffer;
    }

    long address() {
        return address;
    }

    int size() {
        return buffer.capacity();
    }

    /** Call after the native call that uses {@link #address()}. */
    void keepAlive() {
        Reference.reachabilityFence(buffer);
    }
}
