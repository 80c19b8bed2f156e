package io.jvmm.testkit.driver.virtio;

import io.jvmm.pci.mem.GuestMemory;
import io.jvmm.pci.msix.MsiMessage;
import io.jvmm.testkit.driver.DriverTimeoutException;
import io.jvmm.testkit.driver.GuestCpu;
import io.jvmm.testkit.driver.GuestDriverException;
import io.jvmm.testkit.driver.GuestInterrupts;
import io.jvmm.testkit.driver.PageAllocator;
import io.jvmm.testkit.driver.Poll;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * The guest side of a split virtqueue (virtio 1.x, 2.7), written as Linux's virtio_ring is:
 *
 * <ul>
 * <li>a free list of descriptors, kept in driver memory (not in the ring, which a device could
 *     corrupt), from which each chain takes its descriptors;</li>
 * <li>chains published in the available ring: entry first, then the index with release order,
 *     so the device never sees an index before the entry and descriptors it covers;</li>
 * <li>notification only when the device asked for it: with EVENT_IDX through avail_event,
 *     otherwise unless the used ring's NO_NOTIFY flag is set, after a full fence that orders
 *     our index store before that load;</li>
 * <li>used entries collected with an acquire load of the used index; each must name a chain in
 *     flight (a duplicate or unknown id is a device bug, reported); with EVENT_IDX used_event is
 *     then moved to ask for an interrupt at the next entry;</li>
 * <li>waiting by interrupt: snapshot the vector's delivery count, collect, and only if nothing
 *     was there wait for the count to move, so no interrupt can be missed.</li>
 * </ul>
 *
 * <p>Not thread-safe: one guest thread drives a queue (other threads may mask its vector).
 */
public final class SplitQueue {
    static final int DESC_F_NEXT = 1;
    static final int DESC_F_WRITE = 2;
    static final int DESC_F_INDIRECT = 4;
    static final int USED_F_NO_NOTIFY = 1;
    private static final int NONE = -1;

    private final GuestCpu cpu;
    private final GuestMemory memory;
    private final PageAllocator pages;
    private final GuestInterrupts interrupts;
    private final String owner;
    private final int index;
    private final RingLayout ring;
    private final long notifyAddress;
    private final MsiMessage message;
    private final boolean eventIdx;
    private final boolean indirect;

    private final int[] nextFree;
    private final InFlight[] inFlight;
    private int freeHead;
    private int freeCount;
    private int inFlightCount;
    private int availIdx;        // next avail index to publish (free-running u16)
    private int kickedAvailIdx;  // avail index at the last notification decision
    private long notifications;  // notifications written
    private int lastUsed;        // next used index to collect (free-running u16)
    private boolean abandoned;

    /** What the driver remembers about a chain the device holds. */
    private record InFlight(Object token, int[] descriptors, long indirectTable) {
    }

    /**
     * @param ring the ring memory, already zeroed and programmed into the device
     * @param message the MSI the device sends for this queue, or null to poll instead
     */
    SplitQueue(GuestCpu cpu, PageAllocator pages, GuestInterrupts interrupts, String owner, int index, RingLayout ring,
               long notifyAddress, MsiMessage message, boolean eventIdx, boolean indirect) {
        this.cpu = cpu;
        this.memory = cpu.memory();
        this.pages = pages;
        this.interrupts = interrupts;
        this.owner = owner;
        this.index = index;
        this.ring = ring;
        this.notifyAddress = notifyAddress;
        this.message = message;
        this.eventIdx = eventIdx;
        this.indirect = indirect;
        int size = ring.size();
        this.nextFree = new int[size];
        this.inFlight = new InFlight[size];
        for (int i = 0; i < size; i++) {
            nextFree[i] = i + 1 < size ? i + 1 : NONE;
        }
        this.freeHead = size > 0 ? 0 : NONE;
        this.freeCount = size;
    }

    public int index() {
        return index;
    }

    public int size() {
        return ring.size();
    }

    public RingLayout layout() {
        return ring;
    }

    public MsiMessage message() {
        return message;
    }

    public boolean eventIdx() {
        return eventIdx;
    }

    public boolean indirectNegotiated() {
        return indirect;
    }

    public int freeDescriptors() {
        return freeCount;
    }

    public int inFlight() {
        return inFlightCount;
    }

    /** Ring descriptors {@code chain} needs here (1 when it goes indirect). */
    public int descriptorsNeeded(Chain chain) {
        return useIndirect(chain) ? 1 : chain.size();
    }

    public boolean canAdd(Chain chain) {
        return descriptorsNeeded(chain) <= freeCount;
    }

    private boolean useIndirect(Chain chain) {
        return chain.isIndirect() && indirect;
    }

    /**
     * Writes {@code chain} into free descriptors (or an indirect table) and publishes its head in
     * the available ring; the device is not notified until {@link #kick()}.
     *
     * @return the head descriptor index
     * @throws GuestDriverException if the queue lacks free descriptors
     */
    public int add(Chain chain, Object token) {
        checkUsable();
        List<Chain.Segment> segments = chain.segments();
        if (segments.isEmpty()) {
            throw new IllegalArgumentException(owner + " queue " + index + ": a chain needs at least one buffer");
        }
        int needed = descriptorsNeeded(chain);
        if (needed > freeCount) {
            throw new GuestDriverException(String.format("%s queue %d: %d descriptors needed, %d free (%d chains in flight)",
                    owner, index, needed, freeCount, inFlightCount));
        }
        long table = 0;
        int[] used;
        if (useIndirect(chain)) {
            table = pages.allocate(16L * segments.size());
            for (int i = 0; i < segments.size(); i++) {
                Chain.Segment s = segments.get(i);
                boolean last = i == segments.size() - 1;
                writeDescriptorAt(table + 16L * i, s.address(), s.length(),
                        (s.writable() ? DESC_F_WRITE : 0) | (last ? 0 : DESC_F_NEXT), last ? 0 : i + 1);
            }
            used = takeDescriptors(1);
            writeDescriptor(used[0], table, 16 * segments.size(), DESC_F_INDIRECT, 0);
        } else {
            used = takeDescriptors(segments.size());
            for (int i = 0; i < used.length; i++) {
                Chain.Segment s = segments.get(i);
                boolean last = i == used.length - 1;
                writeDescriptor(used[i], s.address(), s.length(),
                        (s.writable() ? DESC_F_WRITE : 0) | (last ? 0 : DESC_F_NEXT), last ? 0 : used[i + 1]);
            }
        }
        int head = used[0];
        inFlight[head] = new InFlight(token, used, table);
        inFlightCount++;
        publish(head);
        return head;
    }

    private int[] takeDescriptors(int n) {
        int[] taken = new int[n];
        for (int i = 0; i < n; i++) {
            taken[i] = freeHead;
            freeHead = nextFree[freeHead];
        }
        freeCount -= n;
        return taken;
    }

    private void publish(int head) {
        if (ring.size() == 0) {
            throw new IllegalStateException(owner + " queue " + index + " has size 0: nothing can be published");
        }
        memory.write16(ring.availRing(availIdx % ring.size()), head);
        availIdx = (availIdx + 1) & 0xFFFF;
        memory.write16Release(ring.availIdx(), availIdx);
    }

    /**
     * Notifies the device if it wants to hear about the chains published since the last kick.
     *
     * @return whether a notification was written
     */
    public boolean kick() {
        checkUsable();
        GuestMemory.fullFence();   // our avail index store before the load of the device's event/flags
        int old = kickedAvailIdx;
        int now = availIdx;
        kickedAvailIdx = now;
        boolean needed;
        if (eventIdx) {
            int event = memory.read16(ring.availEvent());
            needed = ((now - event - 1) & 0xFFFF) < ((now - old) & 0xFFFF);
        } else {
            needed = (memory.read16(ring.used()) & USED_F_NO_NOTIFY) == 0 && now != old;
        }
        if (needed) {
            notifyDevice();
        }
        return needed;
    }

    /** Writes this queue's index to its notification address, unconditionally. */
    public void notifyDevice() {
        notifications++;
        cpu.writeMmio(notifyAddress, 2, index);
    }

    /** The avail index the device asked to be notified after (EVENT_IDX's avail_event), as it is in memory now. */
    public int deviceAvailEvent() {
        return memory.read16Acquire(ring.availEvent());
    }

    /** Notifications written so far (by {@link #kick} when the device asked, or {@link #notifyDevice}). */
    public long notifications() {
        return notifications;
    }

    /** Used entries the device has returned that were not collected yet. */
    public int usedPending() {
        return (memory.read16Acquire(ring.usedIdx()) - lastUsed) & 0xFFFF;
    }

    /**
     * Collects every used entry now in the ring, returning their descriptors to the free list.
     *
     * @throws GuestDriverException if the device returned an id that is not in flight (a double
     *     completion or garbage) or moved the used index by more than the queue size
     */
    public List<UsedBuffer> takeUsed() {
        checkUsable();
        List<UsedBuffer> out = new ArrayList<>();
        while (true) {
            int usedIdx = memory.read16Acquire(ring.usedIdx());
            int pending = (usedIdx - lastUsed) & 0xFFFF;
            if (pending > ring.size()) {
                throw new GuestDriverException(String.format("%s queue %d: used index moved from %d to %d, more than the queue size %d",
                        owner, index, lastUsed, usedIdx, ring.size()));
            }
            for (int i = 0; i < pending; i++) {
                long elem = ring.usedRing(lastUsed % ring.size());
                int id = memory.read32(elem);
                int len = memory.read32(elem + 4);
                out.add(complete(id, len));
                lastUsed = (lastUsed + 1) & 0xFFFF;
            }
            if (!eventIdx) {
                return out;
            }
            // Ask for an interrupt at the next entry, then look again: an entry the device added
            // before seeing the new used_event would otherwise get no interrupt (Linux's
            // virtqueue_enable_cb does the same re-check).
            memory.write16(ring.usedEvent(), lastUsed);
            GuestMemory.fullFence();
            if (memory.read16Acquire(ring.usedIdx()) == lastUsed) {
                return out;
            }
        }
    }

    private UsedBuffer complete(int id, int len) {
        if (id < 0 || id >= ring.size() || inFlight[id] == null) {
            throw new GuestDriverException(String.format("%s queue %d: device returned descriptor %d which is not the head of a chain in flight",
                    owner, index, id));
        }
        InFlight chain = inFlight[id];
        inFlight[id] = null;
        inFlightCount--;
        for (int d : chain.descriptors()) {
            nextFree[d] = freeHead;
            freeHead = d;
        }
        freeCount += chain.descriptors().length;
        if (chain.indirectTable() != 0) {
            pages.free(chain.indirectTable());
        }
        return new UsedBuffer(id, len, chain.token());
    }

    /**
     * Collects used entries, waiting for the queue's interrupt if there are none yet.
     *
     * @return at least one entry
     * @throws DriverTimeoutException if nothing came within {@code timeout}
     */
    public List<UsedBuffer> awaitUsed(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            long seen = message == null ? 0 : interrupts.count(message);
            List<UsedBuffer> got = takeUsed();
            if (!got.isEmpty()) {
                return got;
            }
            long remaining = deadline - System.nanoTime();
            boolean signalled = remaining > 0 && (message == null
                    ? Poll.await(() -> usedPending() > 0, Duration.ofNanos(remaining))
                    : interrupts.awaitMoreThan(message, seen, Duration.ofNanos(remaining)));
            if (!signalled) {
                throw new DriverTimeoutException(String.format("%s queue %d: no used buffer%s within %d ms (%s)",
                        owner, index, message == null ? "" : String.format(" and no interrupt (MSI data 0x%x)", message.data()),
                        timeout.toMillis(), describeState()));
            }
        }
    }

    /** The ring's indices as both sides see them, for error messages. */
    public String describeState() {
        return String.format("%d chains in flight, %d descriptors free, avail idx %d (kicked at %d), used idx %d, collected up to %d%s",
                inFlightCount, freeCount, availIdx, kickedAvailIdx, memory.read16(ring.usedIdx()), lastUsed,
                eventIdx ? String.format(", used_event %d, avail_event %d", memory.read16(ring.usedEvent()), memory.read16(ring.availEvent()))
                        : String.format(", used flags 0x%x", memory.read16(ring.used())));
    }

    /**
     * Forgets every chain after the device was reset (the device no longer touches them): frees
     * indirect tables and returns the tokens of the chains that never completed. The queue
     * cannot be used afterwards; its ring memory is freed by the driver that owns it.
     */
    public List<Object> abandon() {
        List<Object> tokens = new ArrayList<>();
        for (int i = 0; i < inFlight.length; i++) {
            InFlight chain = inFlight[i];
            if (chain != null) {
                tokens.add(chain.token());
                if (chain.indirectTable() != 0) {
                    pages.free(chain.indirectTable());
                }
                inFlight[i] = null;
            }
        }
        inFlightCount = 0;
        abandoned = true;
        return tokens;
    }

    private void checkUsable() {
        if (abandoned) {
            throw new IllegalStateException(owner + " queue " + index + " was abandoned by a device reset; re-initialise the device");
        }
    }

    private void writeDescriptor(int i, long address, int length, int flags, int next) {
        writeDescriptorAt(ring.desc() + 16L * i, address, length, flags, next);
    }

    private static void writeDescriptorAt(GuestMemory memory, long at, long address, int length, int flags, int next) {
        memory.write64(at, address);
        memory.write32(at + 8, length);
        memory.write16(at + 12, flags);
        memory.write16(at + 14, next);
    }

    private void writeDescriptorAt(long at, long address, int length, int flags, int next) {
        writeDescriptorAt(memory, at, address, length, flags, next);
    }

    // ---- a buggy guest's tools ---------------------------------------------------------------
    // Tests use these to provoke device-side checks. They bypass the free list and bookkeeping:
    // after using them, reset and re-initialise the device.

    /** Writes descriptor {@code i} of the ring's table directly. */
    public void rawDescriptor(int i, long address, int length, int flags, int next) {
        writeDescriptor(i, address, length, flags, next);
    }

    /** Writes entry {@code i} of a table at {@code table} (an indirect table the test built). */
    public void rawTableEntry(long table, int i, long address, int length, int flags, int next) {
        writeDescriptorAt(table + 16L * i, address, length, flags, next);
    }

    /** Publishes {@code head} in the available ring without any bookkeeping. */
    public void rawPublish(int head) {
        publish(head);
    }

    /** Sets the available index to any value (e.g. one that jumps by more than the queue size). */
    public void rawSetAvailIndex(int value) {
        availIdx = value & 0xFFFF;
        memory.write16Release(ring.availIdx(), availIdx);
    }

    public int availIndex() {
        return availIdx;
    }

    @Override
    public String toString() {
        return String.format("%s queue %d (size %d, %d in flight%s%s)", owner, index, ring.size(), inFlightCount,
                eventIdx ? ", event-idx" : "", indirect ? ", indirect" : "");
    }
}
