package io.jvmm.virtio.vhost;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * VhostUserMemory, the SET_MEM_TABLE payload: up to 8 regions, each with one fd in the same
 * order. The size on the wire is 8 + 32 * regions (as QEMU sends it).
 */
public record MemoryTable(List<MemoryRegionInfo> regions) {
    public static final int HEADER_SIZE = 8;
    /** VHOST_MEMORY_BASELINE_NREGIONS: the most regions one table can carry. */
    public static final int MAX_REGIONS = 8;

    public MemoryTable {
        regions = List.copyOf(regions);
        if (regions.isEmpty() || regions.size() > MAX_REGIONS) {
            throw new IllegalArgumentException("a memory table has 1 to " + MAX_REGIONS + " regions, not " + regions.size());
        }
    }

    public byte[] encode() {
        ByteBuffer b = Payloads.allocate(HEADER_SIZE + MemoryRegionInfo.SIZE * regions.size());
        b.putInt(regions.size()).putInt(0);
        for (MemoryRegionInfo r : regions) {
            r.encode(b);
        }
        return b.array();
    }

    /**
     * Decodes and checks: the region count matches both the payload size and the fds that came
     * with the message, no region is empty, and no two overlap in guest or user addresses.
     */
    public static MemoryTable decode(VhostUserMessage m, String from) {
        ByteBuffer b = Payloads.check(m, PayloadKind.MEMORY_TABLE, from);
        long count = Integer.toUnsignedLong(b.getInt());
        b.getInt(); // padding
        long inPayload = (m.payload().length - HEADER_SIZE) / MemoryRegionInfo.SIZE;
        if (count == 0 || count != inPayload || count != m.fds().length) {
            throw new VhostUserProtocolException(String.format("%s: %s says %d regions, its payload holds %d and %d fds came with it",
                    from, m.name(), count, inPayload, m.fds().length));
        }
        List<MemoryRegionInfo> regions = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            MemoryRegionInfo r = MemoryRegionInfo.decode(b);
            if (r.size() <= 0 || r.guestAddress() + r.size() < r.guestAddress() || r.userAddress() + r.size() < r.userAddress()) {
                throw new VhostUserProtocolException(from + ": " + m.name() + " region " + i + " " + r + " is empty or wraps around");
            }
            for (MemoryRegionInfo o : regions) {
                boolean guestOverlap = r.guestAddress() < o.guestAddress() + o.size() && o.guestAddress() < r.guestAddress() + r.size();
                boolean userOverlap = r.userAddress() < o.userAddress() + o.size() && o.userAddress() < r.userAddress() + r.size();
                if (guestOverlap || userOverlap) {
                    throw new VhostUserProtocolException(from + ": " + m.name() + " region " + r + " overlaps " + o);
                }
            }
            regions.add(r);
        }
        return new MemoryTable(regions);
    }
}
