package io.jvmm.virtio.queue;

import io.jvmm.pci.mem.GuestMemory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.*;

/** The device side of a split ring against rings laid out by hand, as a driver would. */
class SplitVirtqueueTest {
    static final int SIZE = 8;
    static final long DESC = 0x1000;
    static final long AVAIL = 0x2000;
    static final long USED = 0x3000;

    private final GuestMemory memory = GuestMemory.ofRam("ram", 1 << 20);
    private final AtomicInteger interrupts = new AtomicInteger();
    private int availIdx;

    @AfterEach
    void close() {
        memory.close();
    }

    private SplitVirtqueue queue(boolean eventIdx, boolean indirect) {
        return new SplitVirtqueue(0, memory, SIZE, 256, DESC, AVAIL, USED, eventIdx, indirect, interrupts::incrementAndGet);
    }

    private void desc(long table, int i, long addr, int len, int flags, int next) {
        long d = table + 16L * i;
        memory.write64(d, addr);
        memory.write32(d + 8, len);
        memory.write16(d + 12, flags);
        memory.write16(d + 14, next);
    }

    private void publish(int head) {
        memory.write16(AVAIL + 4 + 2L * (availIdx % SIZE), head);
        availIdx++;
        memory.write16Release(AVAIL + 2, availIdx);
    }

    @Test
    void chainsComeOutAsZeroCopyViewsAndGoBackThroughTheUsedRing() {
        SplitVirtqueue q = queue(false, false);
        assertNull(q.pop());
        memory.write32(0x8000, 0xabcd1234);
        desc(DESC, 0, 0x8000, 16, SplitVirtqueue.DESC_F_NEXT, 3);
        desc(DESC, 3, 0x9000, 512, SplitVirtqueue.DESC_F_NEXT | SplitVirtqueue.DESC_F_WRITE, 5);
        desc(DESC, 5, 0x9200, 1, SplitVirtqueue.DESC_F_WRITE, 0);
        publish(0);

        DescriptorChain c = q.pop();
        assertEquals(0, c.head());
        assertEquals(16, c.readableLength());
        assertEquals(513, c.writableLength());
        assertEquals(0xabcd1234, c.readable().get(0).getInt(0));
        c.writable().get(0).putInt(0, 0x55667788);
        assertEquals(0x55667788, memory.read32(0x9000), "writable segment is a view of guest memory");
        assertEquals(2, c.writableRange(511, 2).size(), "range split at the segment boundary");
        assertNull(q.pop());

        q.push(c, 513);
        assertEquals(1, memory.read16(USED + 2));
        assertEquals(0, memory.read32(USED + 4));
        assertEquals(513, memory.read32(USED + 8));
        q.notifyGuest();
        assertEquals(1, interrupts.get());
        q.notifyGuest();
        assertEquals(1, interrupts.get(), "nothing new pushed: no second interrupt");
    }

    @Test
    void indirectTablesAreFollowed() {
        SplitVirtqueue q = queue(false, true);
        long table = 0x6000;
        desc(table, 0, 0x8000, 16, SplitVirtqueue.DESC_F_NEXT, 1);
        desc(table, 1, 0x9000, 100, SplitVirtqueue.DESC_F_WRITE, 0);
        desc(DESC, 2, table, 32, SplitVirtqueue.DESC_F_INDIRECT, 0);
        publish(2);
        DescriptorChain c = q.pop();
        assertEquals(2, c.head());
        assertEquals(16, c.readableLength());
        assertEquals(100, c.writableLength());
    }

    @Test
    void noInterruptFlagSuppressesInterrupts() {
        SplitVirtqueue q = queue(false, false);
        desc(DESC, 0, 0x8000, 8, SplitVirtqueue.DESC_F_WRITE, 0);
        publish(0);
        memory.write16(AVAIL, SplitVirtqueue.AVAIL_F_NO_INTERRUPT);
        q.push(q.pop(), 8);
        q.notifyGuest();
        assertEquals(0, interrupts.get());
    }

    @Test
    void eventIdxInterruptsOnlyWhenUsedEventIsCrossed() {
        SplitVirtqueue q = queue(true, false);
        long usedEvent = AVAIL + 4 + 2L * SIZE;
        for (int i = 0; i < 4; i++) {
            desc(DESC, i, 0x8000 + 64L * i, 8, SplitVirtqueue.DESC_F_WRITE, 0);
            publish(i);
        }
        memory.write16(usedEvent, 2);   // the driver wants an interrupt once used idx passes 2
        q.push(q.pop(), 0);
        q.notifyGuest();
        assertEquals(0, interrupts.get(), "used idx 1 does not cross used_event 2");
        q.push(q.pop(), 0);
        q.notifyGuest();
        assertEquals(0, interrupts.get(), "used idx 2 does not cross used_event 2");
        q.push(q.pop(), 0);
        q.notifyGuest();
        assertEquals(1, interrupts.get(), "used idx 3 crosses used_event 2");

        // Device -> driver suppression: avail_event tells the driver when to kick.
        assertTrue(q.enableNotifications(), "one chain is still available");
        assertEquals(3, memory.read16(USED + 4 + 8L * SIZE));
        q.pop();
        assertFalse(q.enableNotifications());
        assertEquals(4, memory.read16(USED + 4 + 8L * SIZE));
    }

    /**
     * While its context polls the ring, the device's drains leave the driver's notifications
     * suppressed (avail_event stays behind with EVENT_IDX, NO_NOTIFY stays set without), and when
     * polling ends they are asked for again and the ring re-checked. Fails if pollingStarted does
     * nothing (the drain would re-enable notifications) or pollingEnded does not re-enable them.
     */
    @Test
    void aPolledRingKeepsTheDriversNotificationsSuppressedUntilPollingEnds() {
        long availEvent = USED + 4 + 8L * SIZE;
        SplitVirtqueue q = queue(true, false);
        assertFalse(q.enableNotifications());
        assertEquals(0, memory.read16(availEvent));
        q.pollingStarted();
        for (int i = 0; i < 3; i++) {
            desc(DESC, i, 0x8000 + 64L * i, 8, SplitVirtqueue.DESC_F_WRITE, 0);
            publish(i);
            q.drain(c -> q.push(c, 0));
            assertEquals(0, memory.read16(availEvent), "avail_event moved while polled: the driver would kick");
            assertEquals(i + 1, q.usedIndex());
        }
        desc(DESC, 3, 0x8000 + 64L * 3, 8, SplitVirtqueue.DESC_F_WRITE, 0);
        publish(3);
        assertTrue(q.pollingEnded(), "a chain published just before polling ended is found by the re-check");
        assertEquals(3, memory.read16(availEvent), "polling ended without asking the driver to kick again");
        q.drain(c -> q.push(c, 0));
        assertEquals(4, memory.read16(availEvent), "after polling the driver is asked to kick on its next chain");
    }

    /** The same without EVENT_IDX: the used ring's NO_NOTIFY flag stays set while the ring is polled. */
    @Test
    void aPolledRingKeepsNoNotifySetUntilPollingEnds() {
        SplitVirtqueue q = queue(false, false);
        q.pollingStarted();
        desc(DESC, 0, 0x8000, 8, SplitVirtqueue.DESC_F_WRITE, 0);
        publish(0);
        q.drain(c -> q.push(c, 0));
        assertEquals(1, q.usedIndex());
        assertEquals(SplitVirtqueue.USED_F_NO_NOTIFY, memory.read16(USED), "NO_NOTIFY cleared while polled");
        assertFalse(q.pollingEnded());
        assertEquals(0, memory.read16(USED), "NO_NOTIFY still set after polling ended");
    }

    /**
     * A used ring over the driver's rings is refused: the device's own writes would publish chains
     * (a used idx that is also the avail idx grows with each push, and the drain never ends; found
     * by RingFuzzTest as a hang).
     */
    @Test
    void aUsedRingOverTheDriversRingsIsRefused() {
        VirtqueueFault overAvail = assertThrows(VirtqueueFault.class, () -> new SplitVirtqueue(0, memory, SIZE, 256, DESC, AVAIL,
                AVAIL, false, false, interrupts::incrementAndGet));
        assertTrue(overAvail.getMessage().contains("overlaps the available ring"), overAvail.getMessage());
        VirtqueueFault overDesc = assertThrows(VirtqueueFault.class, () -> new SplitVirtqueue(0, memory, SIZE, 256, DESC, AVAIL,
                DESC + 16L * SIZE - 4, false, false, interrupts::incrementAndGet));
        assertTrue(overDesc.getMessage().contains("overlaps the descriptor table"), overDesc.getMessage());
        // Apart is fine: the used ring at the first 4-byte-aligned address after the available ring.
        new SplitVirtqueue(0, memory, SIZE, 256, DESC, AVAIL, AVAIL + 6 + 2L * SIZE + 2, true, false, interrupts::incrementAndGet);
    }

    @Test
    void noNotifyFlagIsSetWhileDraining() {
        SplitVirtqueue q = queue(false, false);
        q.disableNotifications();
        assertEquals(SplitVirtqueue.USED_F_NO_NOTIFY, memory.read16(USED));
        assertFalse(q.enableNotifications());
        assertEquals(0, memory.read16(USED));
    }

    private VirtqueueFault fault(SplitVirtqueue q) {
        return assertThrows(VirtqueueFault.class, q::pop);
    }

    @Test
    void descriptorLoopIsAFault() {
        SplitVirtqueue q = queue(false, false);
        desc(DESC, 0, 0x8000, 8, SplitVirtqueue.DESC_F_NEXT, 1);
        desc(DESC, 1, 0x8000, 8, SplitVirtqueue.DESC_F_NEXT, 0);
        publish(0);
        assertTrue(fault(q).getMessage().contains("loop"));
    }

    @Test
    void chainLongerThanTheQueueIsAFault() {
        SplitVirtqueue q = queue(false, true);
        long table = 0x6000;
        for (int i = 0; i < SIZE + 1; i++) {   // a valid indirect table with more entries than the queue size
            desc(table, i, 0x8000, 8, i < SIZE ? SplitVirtqueue.DESC_F_NEXT : 0, i + 1);
        }
        desc(DESC, 0, table, 16 * (SIZE + 1), SplitVirtqueue.DESC_F_INDIRECT, 0);
        publish(0);
        assertTrue(fault(q).getMessage().contains("longer than the queue size"));
    }

    @Test
    void bufferOutsideGuestMemoryIsAFault() {
        SplitVirtqueue q = queue(false, false);
        desc(DESC, 0, (1 << 20) - 4, 8, 0, 0);
        publish(0);
        String m = fault(q).getMessage();
        assertTrue(m.contains("chain 0: buffer guest memory access [0xffffc, +8)"), m);
    }

    @Test
    void indirectInsideIndirectIsAFault() {
        SplitVirtqueue q = queue(false, true);
        desc(0x6000, 0, 0x7000, 16, SplitVirtqueue.DESC_F_INDIRECT, 0);
        desc(DESC, 0, 0x6000, 16, SplitVirtqueue.DESC_F_INDIRECT, 0);
        publish(0);
        assertTrue(fault(q).getMessage().contains("indirect table inside an indirect table"));
    }

    @Test
    void indirectWithoutNegotiationIsAFault() {
        SplitVirtqueue q = queue(false, false);
        desc(DESC, 0, 0x6000, 16, SplitVirtqueue.DESC_F_INDIRECT, 0);
        publish(0);
        assertTrue(fault(q).getMessage().contains("not negotiated"));
    }

    @Test
    void availIndexJumpIsAFault() {
        SplitVirtqueue q = queue(false, false);
        memory.write16Release(AVAIL + 2, SIZE + 1);
        assertTrue(fault(q).getMessage().contains("jumped"));
    }

    @Test
    void readableAfterWritableIsAFault() {
        SplitVirtqueue q = queue(false, false);
        desc(DESC, 0, 0x8000, 8, SplitVirtqueue.DESC_F_WRITE | SplitVirtqueue.DESC_F_NEXT, 1);
        desc(DESC, 1, 0x8100, 8, 0, 0);
        publish(0);
        assertTrue(fault(q).getMessage().contains("after a device-writable"));
    }

    @Test
    void badQueueSizesAndRingPlacementsAreFaults() {
        for (int size : new int[] {0, 3, 512, 65535}) {
            VirtqueueFault f = assertThrows(VirtqueueFault.class, () ->
                    new SplitVirtqueue(1, memory, size, 256, DESC, AVAIL, USED, false, false, () -> { }));
            assertTrue(f.getMessage().startsWith("queue 1: queue size " + size), f.getMessage());
        }
        assertThrows(VirtqueueFault.class, () -> new SplitVirtqueue(0, memory, SIZE, 256, DESC + 8, AVAIL, USED, false, false, () -> { }));
        assertThrows(VirtqueueFault.class, () -> new SplitVirtqueue(0, memory, SIZE, 256, DESC, 1 << 20, USED, false, false, () -> { }));
    }

    @Test
    void freeRunningIndicesWrapAt65536() {
        SplitVirtqueue q = queue(false, false);
        availIdx = 0xfffe;
        memory.write16(AVAIL + 2, availIdx);
        q.setLastAvailIndex(0xfffe);
        for (int i = 0; i < 4; i++) {
            desc(DESC, i, 0x8000, 4, SplitVirtqueue.DESC_F_WRITE, 0);
            publish(i);
        }
        int n = 0;
        DescriptorChain c;
        while ((c = q.pop()) != null) {
            q.push(c, 4);
            n++;
        }
        assertEquals(4, n);
        assertEquals(2, q.lastAvailIndex());
    }

    @Test
    void aHeadPublishedAgainWhileTheDeviceHoldsItIsAFault() {
        SplitVirtqueue q = queue(false, false);
        desc(DESC, 0, 0x8000, 8, SplitVirtqueue.DESC_F_WRITE, 0);
        publish(0);
        assertNotNull(q.pop());
        publish(0);   // not given back through the used ring yet
        String m = fault(q).getMessage();
        assertTrue(m.contains("descriptor 0 again while the device still holds it"), m);
    }

    @Test
    void eachHeadKeepsOneChainObjectRefilledWhenPublishedAgainAndPushedOnce() {
        SplitVirtqueue q = queue(false, false);
        desc(DESC, 2, 0x8000, 8, SplitVirtqueue.DESC_F_WRITE, 0);
        publish(2);
        DescriptorChain c = q.pop();
        q.push(c, 8);
        assertThrows(IllegalStateException.class, () -> q.push(c, 8), "a chain is pushed once");
        desc(DESC, 2, 0x8000, 16, SplitVirtqueue.DESC_F_NEXT, 3);
        desc(DESC, 3, 0x9000, 32, SplitVirtqueue.DESC_F_WRITE, 0);
        publish(2);
        DescriptorChain again = q.pop();
        assertSame(c, again, "the head's chain object is filled again: no object per request");
        assertEquals(2, again.head());
        assertEquals(1, again.readableCount());
        assertEquals(16, again.readableLength());
        assertEquals(0x8000, again.readableAddress(0));
        assertEquals(1, again.writableCount());
        assertEquals(32, again.writableSize(0));
        assertEquals(0x9000, again.writableAddress(0));
        assertThrows(IndexOutOfBoundsException.class, () -> again.writableAddress(1));
    }

    @Test
    void copiesCrossSegmentBoundariesFromAnOffset() {
        SplitVirtqueue q = queue(false, false);
        for (int i = 0; i < 3; i++) {
            memory.write8(0x8000 + i, 1 + i);
            memory.write8(0x8100 + i, 4 + i);
        }
        desc(DESC, 0, 0x8000, 3, SplitVirtqueue.DESC_F_NEXT, 1);
        desc(DESC, 1, 0x8100, 3, SplitVirtqueue.DESC_F_NEXT, 2);
        desc(DESC, 2, 0x9000, 2, SplitVirtqueue.DESC_F_WRITE | SplitVirtqueue.DESC_F_NEXT, 3);
        desc(DESC, 3, 0x9100, 4, SplitVirtqueue.DESC_F_WRITE, 0);
        publish(0);
        DescriptorChain c = q.pop();

        java.nio.ByteBuffer dst = java.nio.ByteBuffer.allocate(8);
        dst.limit(3);
        c.copyFromReadable(2, dst);
        assertEquals(3, dst.position());
        assertEquals(3, dst.limit(), "the caller's limit is kept");
        assertArrayEquals(new byte[] {3, 4, 5}, java.util.Arrays.copyOf(dst.array(), 3));
        java.nio.ByteBuffer rest = java.nio.ByteBuffer.allocate(8);
        c.copyFromReadable(4, rest);
        assertEquals(2, rest.position(), "only what the readable part holds past the offset");

        java.nio.ByteBuffer src = java.nio.ByteBuffer.wrap(new byte[] {10, 11, 12, 13, 14, 15, 16});
        assertEquals(4, c.copyToWritable(1, src.slice(0, 4)));
        assertEquals(10, memory.read8(0x9001));
        assertEquals(11, memory.read8(0x9100));
        assertEquals(13, memory.read8(0x9102));
        assertEquals(2, c.copyToWritable(4, src), "only what the writable part holds past the offset");
        assertEquals(2, src.position());
        assertEquals(10, memory.read8(0x9102));
        assertEquals(11, memory.read8(0x9103));
    }
}
