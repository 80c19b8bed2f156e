package io.jvmm.pci.mem;

/**
 * A guest-physical access that guest memory cannot satisfy: outside every region, straddling two
 * regions, or misaligned where atomicity needs alignment. Devices turn this into a device fault
 * (virtio NEEDS_RESET); it never reaches native memory.
 */
public final class GuestMemoryException extends RuntimeException {
    private static final long serialVersionUID = 1L;
    private final long address;
    private final long length;

    public GuestMemoryException(long address, long length, String reason) {
        super(String.format("guest memory access [0x%x, +%d): %s", address, length, reason));
        this.address = address;
        this.length = length;
    }

    public long address() {
        return address;
    }

    public long length() {
        return length;
    }
}
