package io.jvmm.virtio.vhost.backend;

import io.jvmm.chardev.Fds;
import io.jvmm.chardev.SharedMemory;
import io.jvmm.pci.mem.GuestMemory;
import io.jvmm.virtio.vhost.MemoryRegionInfo;
import io.jvmm.virtio.vhost.MemoryTable;
import java.util.List;

/**
 * The front-end's memory as a back-end sees it: each region of a SET_MEM_TABLE mapped from its
 * fd ({@link SharedMemory#map}), assembled into a {@link GuestMemory} so rings are served with
 * the same bounds-checked code as in-process devices, plus the front-end's user addresses of
 * each region (ring addresses arrive as those).
 */
final class BackendMemory implements AutoCloseable {
    private final List<MemoryRegionInfo> regions;
    private final GuestMemory guest;

    private BackendMemory(List<MemoryRegionInfo> regions, GuestMemory guest) {
        this.regions = regions;
        this.guest = guest;
    }

    /**
     * Maps every region of {@code table} from the matching fd, taking ownership of all fds (each
     * is closed with its mapping, or at once if mapping fails).
     *
     * @throws IllegalArgumentException for a region that cannot be mapped or placed (unaligned
     *     offset, base or size); everything mapped so far is released
     */
    static BackendMemory map(MemoryTable table, int[] fds) {
        GuestMemory guest = new GuestMemory();
        List<MemoryRegionInfo> regions = table.regions();
        int next = 0;
        try {
            for (; next < regions.size(); next++) {
                MemoryRegionInfo r = regions.get(next);
                SharedMemory m = SharedMemory.map(fds[next], r.mmapOffset(), r.size(), true);
                try {
                    guest.addRegion("vhost region " + next, r.guestAddress(), m);
                } catch (RuntimeException e) {
                    m.close();
                    throw e;
                }
            }
            return new BackendMemory(regions, guest);
        } catch (RuntimeException e) {
            guest.close();
            for (int i = next + 1; i < fds.length; i++) {
                Fds.closeQuietly(fds[i]);
            }
            throw new IllegalArgumentException("cannot map memory region " + next + " (" + regions.get(next) + "): " + e.getMessage(), e);
        }
    }

    GuestMemory guest() {
        return guest;
    }

    /**
     * The guest-physical address of the front-end user address {@code address}, whose
     * {@code length} bytes must lie in one region.
     *
     * @throws IllegalArgumentException if no region holds them
     */
    long toGuest(long address, long length, String what) {
        for (MemoryRegionInfo r : regions) {
            if (r.containsUser(address, length)) {
                return r.guestAddress() + (address - r.userAddress());
            }
        }
        throw new IllegalArgumentException(String.format("%s at user address 0x%x (+%d) is in no memory region", what, address, length));
    }

    @Override
    public void close() {
        guest.close();
    }
}
