package io.jvmm.virtio.vhost;

/**
 * The shapes a vhost-user payload takes (vhost-user.rst, "Payload"), with the size rule each
 * obeys, so a message of the wrong size is refused before anything reads it.
 */
public enum PayloadKind {
    /** No payload. */
    NONE,
    /** A single u64 (features, acknowledgements, vring index with the no-fd flag). */
    U64,
    /** struct vhost_vring_state: index u32, num u32. */
    VRING_STATE,
    /** struct vhost_vring_addr: index, flags, then desc/used/avail/log u64. */
    VRING_ADDRESS,
    /** VhostUserMemory: nregions u32, padding u32, then up to 8 regions of 32 bytes. */
    MEMORY_TABLE,
    /** VhostUserConfig: offset, size, flags (u32 each), then size bytes (at most 256). */
    CONFIG,
    /** A payload jvmm does not interpret (messages it never sends nor serves). */
    UNCHECKED;

    /** Whether {@code size} bytes can be a payload of this kind. */
    public boolean accepts(int size) {
        return switch (this) {
            case NONE -> size == 0;
            case U64, VRING_STATE -> size == 8;
            case VRING_ADDRESS -> size == VringAddress.SIZE;
            case MEMORY_TABLE -> size >= MemoryTable.HEADER_SIZE
                    && (size - MemoryTable.HEADER_SIZE) % MemoryRegionInfo.SIZE == 0
                    && (size - MemoryTable.HEADER_SIZE) / MemoryRegionInfo.SIZE <= MemoryTable.MAX_REGIONS;
            case CONFIG -> size >= DeviceConfig.HEADER_SIZE && size - DeviceConfig.HEADER_SIZE <= DeviceConfig.MAX_SIZE;
            case UNCHECKED -> size >= 0 && size <= VhostUserHeader.MAX_PAYLOAD;
        };
    }
}
