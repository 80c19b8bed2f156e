package io.jvmm.emulator.vfiouser;

import io.jvmm.chardev.Fds;
import io.jvmm.chardev.SharedMemory;
import io.jvmm.pci.mem.GuestMemory;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import jnr.constants.platform.Errno;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The client's memory as DMA_MAP described it: ranges that came with an fd are mapped (MAP_SHARED)
 * and added to the device's {@link GuestMemory}, so the device model reads and writes them
 * directly; ranges without an fd are only recorded, and reached with DMA_READ/DMA_WRITE requests
 * to the client. Ranges never overlap (a map over an existing one is EEXIST).
 *
 * <p>Removing a range is two steps, because the device may be using it: {@link #unmap} takes it
 * out of the guest memory (no new access can start), the caller waits until the device is quiet,
 * then {@link Mapping#release} unmaps it and closes the fd.
 */
final class ClientMemory {
    private static final Logger log = LoggerFactory.getLogger(ClientMemory.class);
    static final long PAGE = 4096;
    static final int FLAG_READ = 1;
    static final int FLAG_WRITE = 2;

    /** One DMA_MAP range; {@code memory} is null for a range without an fd. */
    record Mapping(long address, long size, int flags, long fdOffset, SharedMemory memory) {
        long end() {
            return address + size;
        }

        boolean contains(long start, long length) {
            return start >= address && length <= size && start - address <= size - length;
        }

        /** Unmaps the memory and closes its fd (no-op for a range without an fd). */
        void release() {
            if (memory != null) {
                memory.close();
            }
        }

        @Override
        public String toString() {
            return String.format("[0x%x-0x%x)%s%s", address, address + size, memory == null ? " (no fd)" : " fd-offset 0x"
                    + Long.toHexString(fdOffset), (flags & FLAG_WRITE) == 0 ? " read-only" : "");
        }
    }

    private final String deviceId;
    private final GuestMemory guestMemory;
    private final TreeMap<Long, Mapping> mappings = new TreeMap<>();
    private long maxMappings;

    ClientMemory(String deviceId, GuestMemory guestMemory, long maxMappings) {
        this.deviceId = deviceId;
        this.guestMemory = guestMemory;
        this.maxMappings = maxMappings;
    }

    synchronized void setMaxMappings(long max) {
        this.maxMappings = max;
    }

    /**
     * Adds a range. With {@code fd >= 0} the fd is owned from here on: it is closed on any failure.
     *
     * @throws VfioUserException EINVAL for unaligned or empty ranges, EEXIST for an overlap,
     *         ENOSPC past max_dma_maps, or the mmap errno
     */
    synchronized Mapping map(long address, long size, long fdOffset, int flags, int fd) {
        try {
            if (size <= 0 || (address & (PAGE - 1)) != 0 || (size & (PAGE - 1)) != 0 || (fdOffset & (PAGE - 1)) != 0
                    || address < 0 || address + size < address || fdOffset < 0) {
                throw new VfioUserException(Errno.EINVAL, String.format(
                        "DMA_MAP 0x%x size 0x%x offset 0x%x: address, size and offset must be non-negative multiples of 4 KiB (size > 0)",
                        address, size, fdOffset));
            }
            if ((flags & ~(FLAG_READ | FLAG_WRITE)) != 0) {
                throw new VfioUserException(Errno.EINVAL, "DMA_MAP flags 0x" + Integer.toHexString(flags)
                        + " has bits other than READ (1) and WRITE (2)");
            }
            Optional<Mapping> overlap = overlapping(address, size);
            if (overlap.isPresent()) {
                throw new VfioUserException(Errno.EEXIST, String.format("DMA_MAP [0x%x-0x%x) overlaps the existing mapping %s",
                        address, address + size, overlap.get()));
            }
            if (mappings.size() >= maxMappings) {
                throw new VfioUserException(Errno.ENOSPC, "DMA_MAP: already " + mappings.size() + " mappings (max_dma_maps)");
            }
            SharedMemory memory = null;
            if (fd >= 0) {
                try {
                    memory = SharedMemory.map(fd, fdOffset, size, true);
                } catch (io.jvmm.chardev.NativeException e) {
                    fd = -1;   // SharedMemory.map closed it
                    throw new VfioUserException(e.errno(), "DMA_MAP [0x" + Long.toHexString(address) + "): " + e.getMessage());
                } catch (IllegalArgumentException e) {
                    fd = -1;
                    throw new VfioUserException(Errno.EINVAL, "DMA_MAP [0x" + Long.toHexString(address) + "): " + e.getMessage());
                }
                fd = -1;   // owned by the SharedMemory now
                try {
                    guestMemory.addRegion(deviceId + "-dma@" + Long.toHexString(address), address, memory);
                } catch (IllegalArgumentException e) {
                    memory.close();
                    throw new VfioUserException(Errno.EEXIST, "DMA_MAP: " + e.getMessage());
                }
            }
            Mapping m = new Mapping(address, size, flags, fdOffset, memory);
            mappings.put(address, m);
            log.debug("{}: DMA map {}", deviceId, m);
            return m;
        } finally {
            if (fd >= 0) {
                Fds.closeQuietly(fd);
            }
        }
    }

    /**
     * Takes the range that starts at {@code address} with exactly {@code size} bytes out of the
     * guest memory and the table; the caller releases it once the device is quiet.
     *
     * @throws VfioUserException ENOENT if no mapping matches exactly
     */
    synchronized Mapping unmap(long address, long size) {
        Mapping m = mappings.get(address);
        if (m == null || m.size() != size) {
            throw new VfioUserException(Errno.ENOENT, String.format("DMA_UNMAP [0x%x-0x%x): no mapping starts there with that size%s",
                    address, address + size, m == null ? "" : " (the one there is " + m + ")"));
        }
        remove(m);
        return m;
    }

    /** Takes every range out (DMA_UNMAP with the ALL flag, or a disconnect); the caller releases them. */
    synchronized List<Mapping> unmapAll() {
        List<Mapping> all = new ArrayList<>(mappings.values());
        for (Mapping m : all) {
            remove(m);
        }
        return all;
    }

    private void remove(Mapping m) {
        mappings.remove(m.address());
        if (m.memory() != null) {
            guestMemory.removeRegion(m.address());
        }
        log.debug("{}: DMA unmap {}", deviceId, m);
    }

    /** The mapping wholly containing [address, address + length), if any. */
    synchronized Optional<Mapping> find(long address, long length) {
        Map.Entry<Long, Mapping> e = mappings.floorEntry(address);
        return e != null && e.getValue().contains(address, length) ? Optional.of(e.getValue()) : Optional.empty();
    }

    synchronized int count() {
        return mappings.size();
    }

    synchronized List<Mapping> mappings() {
        return List.copyOf(mappings.values());
    }

    private Optional<Mapping> overlapping(long address, long size) {
        Map.Entry<Long, Mapping> below = mappings.floorEntry(address);
        if (below != null && below.getValue().end() > address) {
            return Optional.of(below.getValue());
        }
        Map.Entry<Long, Mapping> above = mappings.ceilingEntry(address);
        if (above != null && above.getKey() < address + size) {
            return Optional.of(above.getValue());
        }
        return Optional.empty();
    }
}
