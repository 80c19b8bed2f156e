package io.jvmm.virtio.vhost;

import java.nio.ByteBuffer;

/**
 * One region of a vhost-user memory table: guest-physical base, size, the front-end's
 * user-space address of the same bytes, and where they start in the fd sent with the table.
 */
public record MemoryRegionInfo(long guestAddress, long size, long userAddress, long mmapOffset) {
    public static final int SIZE = 32;

    void encode(ByteBuffer dst) {
        dst.putLong(guestAddress).putLong(size).putLong(userAddress).putLong(mmapOffset);
    }

    static MemoryRegionInfo decode(ByteBuffer src) {
        return new MemoryRegionInfo(src.getLong(), src.getLong(), src.getLong(), src.getLong());
    }

    /** Whether the user-space range [address, address+length) lies inside this region. */
    public boolean containsUser(long address, long length) {
        long offset = address - userAddress;
        return Long.compareUnsigned(address, userAddress) >= 0 && Long.compareUnsigned(offset, size) < 0
                && Long.compareUnsigned(length, size - offset) <= 0;
    }

    @Override
    public String toString() {
        return String.format("region[guest 0x%x, size 0x%x, user 0x%x, mmap offset 0x%x]", guestAddress, size, userAddress, mmapOffset);
    }
}
