package io.jvmm.emulator.kvm;

import static io.jvmm.chardev.nativ.LinuxConstants.MAP_FAILED;
import static io.jvmm.chardev.nativ.LinuxConstants.MAP_SHARED;
import static io.jvmm.chardev.nativ.LinuxConstants.PROT_READ;
import static io.jvmm.chardev.nativ.LinuxConstants.PROT_WRITE;

import com.kenai.jffi.MemoryIO;
import io.jvmm.chardev.nativ.Native;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The vCPU's shared {@code struct kvm_run} page(s), mmap'd from the vCPU fd: KVM writes the exit
 * there and reads our answers (IN/MMIO-read data, immediate_exit) on the next KVM_RUN. Accessed
 * through a bounds-checked little-endian buffer; the offsets the kernel hands us (the string I/O
 * data_offset) are checked against the mapping before use.
 */
final class KvmRun {
    // Field offsets in struct kvm_run (include/uapi/linux/kvm.h, checked against the C headers).
    static final int IMMEDIATE_EXIT = 1;
    static final int EXIT_REASON = 8;
    static final int IF_FLAG = 13;
    static final int IO_DIRECTION = 32;
    static final int IO_SIZE = 33;
    static final int IO_PORT = 34;
    static final int IO_COUNT = 36;
    static final int IO_DATA_OFFSET = 40;
    static final int MMIO_PHYS_ADDR = 32;
    static final int MMIO_DATA = 40;
    static final int MMIO_LEN = 48;
    static final int MMIO_IS_WRITE = 52;
    static final int FAIL_ENTRY_REASON = 32;
    static final int FAIL_ENTRY_CPU = 40;
    static final int INTERNAL_SUBERROR = 32;
    static final int INTERNAL_NDATA = 36;
    static final int INTERNAL_DATA = 40;
    static final int SYSTEM_EVENT_TYPE = 32;
    static final int SYSTEM_EVENT_NDATA = 36;
    static final int SYSTEM_EVENT_DATA = 40;
    static final int HW_EXIT_REASON = 32;
    /** The exit union holds at most 256 bytes; data arrays never run past it. */
    static final int EXIT_UNION_END = 32 + 256;

    static final int IO_IN = 0;

    private final long address;
    private final int size;
    private final ByteBuffer buffer;

    /** A view over an existing mapping of {@code size} bytes (the vCPU's, or a test's). */
    KvmRun(long address, int size) {
        this.address = address;
        this.size = size;
        this.buffer = MemoryIO.getInstance().newDirectByteBuffer(address, size).order(ByteOrder.LITTLE_ENDIAN);
    }

    static KvmRun map(int vcpuFd, int size, int vcpuId) {
        if (size < EXIT_UNION_END) {
            throw new IllegalStateException("KVM_GET_VCPU_MMAP_SIZE returned " + size + ", smaller than struct kvm_run");
        }
        long address = Native.libc().mmap(null, size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpuFd, 0);
        if (address == MAP_FAILED) {
            throw Native.error("mmap(vCPU " + vcpuId + " fd " + vcpuFd + ", " + size + " bytes, kvm_run)");
        }
        return new KvmRun(address, size);
    }

    /** Unmaps the page; nothing may touch this object afterwards. */
    void unmap() {
        Native.check(Native.libc().munmap(address, size), "munmap(kvm_run 0x" + Long.toHexString(address) + ")");
    }

    int size() {
        return size;
    }

    int exitReason() {
        return buffer.getInt(EXIT_REASON);
    }

    boolean interruptFlag() {
        return buffer.get(IF_FLAG) != 0;
    }

    /**
     * Sets immediate_exit: KVM_RUN then returns EINTR at once instead of entering the guest. The
     * fence publishes the store before a following kick signal.
     */
    void setImmediateExit(boolean on) {
        buffer.put(IMMEDIATE_EXIT, (byte) (on ? 1 : 0));
        VarHandle.fullFence();
    }

    boolean immediateExit() {
        return buffer.get(IMMEDIATE_EXIT) != 0;
    }

    int u8(int offset) {
        return Byte.toUnsignedInt(buffer.get(offset));
    }

    int u16(int offset) {
        return Short.toUnsignedInt(buffer.getShort(offset));
    }

    int u32(int offset) {
        return buffer.getInt(offset);
    }

    long u64(int offset) {
        return buffer.getLong(offset);
    }

    /**
     * The offset of {@code count} items of {@code size} bytes at {@code dataOffset}, checked to
     * lie inside the mapping (a wrong value from the kernel must not become a wild access).
     */
    int checkedDataRange(long dataOffset, int size, long count) {
        long length = size * count;
        if (dataOffset < 0 || count < 0 || dataOffset > this.size || length > this.size - dataOffset) {
            throw new IllegalStateException("KVM_EXIT_IO data at offset " + dataOffset + " (" + count + " x " + size
                    + " bytes) lies outside the " + this.size + "-byte kvm_run mapping");
        }
        return (int) dataOffset;
    }

    /** A little-endian value of size 1..8 bytes at offset, zero-extended. */
    long readValue(int offset, int size) {
        long v = 0;
        for (int i = size - 1; i >= 0; i--) {
            v = (v << 8) | Byte.toUnsignedLong(buffer.get(offset + i));
        }
        return v;
    }

    /** Stores the low {@code size} bytes of value little-endian at offset. */
    void writeValue(int offset, int size, long value) {
        for (int i = 0; i < size; i++) {
            buffer.put(offset + i, (byte) (value >>> (8 * i)));
        }
    }
}
