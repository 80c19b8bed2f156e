package io.jvmm.virtio.vhost;

import io.jvmm.pci.mem.GuestMemory;

/**
 * The driver side of one split ring laid out at a fixed guest address, just enough to feed a
 * back-end in unit tests: single-descriptor device-writable buffers, published in order.
 */
final class TestRing {
    final GuestMemory memory;
    final int size;
    final long desc;
    final long avail;
    final long used;
    private int nextAvail;

    TestRing(GuestMemory memory, long base, int size) {
        this.memory = memory;
        this.size = size;
        this.desc = base;
        this.avail = base + 16L * size;
        this.used = (avail + 6 + 2L * size + 3) & ~3L;
        for (long a = base; a < used + 6 + 8L * size; a += 2) {
            memory.write16(a, 0);
        }
    }

    /** Publishes a device-writable buffer as descriptor (next avail % size); returns its head. */
    int addWritable(long address, int length) {
        int head = nextAvail % size;
        long d = desc + 16L * head;
        memory.write64(d, address);
        memory.write32(d + 8, length);
        memory.write16(d + 12, 2);   // VIRTQ_DESC_F_WRITE
        memory.write16(d + 14, 0);
        memory.write16(avail + 4 + 2L * (nextAvail % size), head);
        nextAvail = (nextAvail + 1) & 0xffff;
        memory.write16Release(avail + 2, nextAvail);
        return head;
    }

    int usedIndex() {
        return memory.read16Acquire(used + 2);
    }

    int usedLength(int slot) {
        return memory.read32(used + 4 + 8L * (slot % size) + 4);
    }

    /** A ring address as the front-end sends it: the host address of the guest address. */
    long user(long guestAddress) {
        return memory.translate(guestAddress).hostAddress();
    }

    VringAddress address(int index) {
        return new VringAddress(index, 0, user(desc), user(used), user(avail), 0);
    }
}
