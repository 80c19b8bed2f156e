package io.jvmm.virtio.queue;

import io.jvmm.pci.mem.GuestMemory;
import io.jvmm.pci.mem.GuestMemoryException;

import java.util.function.Consumer;

/**
 * The device side of a split virtqueue (virtio 1.x section 2.7): takes descriptor chains from the
 * available ring and returns them through the used ring.
 *
 * <p>Ordering: the avail index is read with acquire semantics before the ring entries and
 * descriptors it publishes; the used index is written with release semantics after the used
 * entries. Before deciding whether to interrupt (or to sleep), a full fence orders our index
 * write against the read of the driver's flags/event, as the specification requires.
 *
 * <p>Every driver mistake is a {@link VirtqueueFault}; nothing here touches memory outside the
 * guest's regions. Not thread-safe: one queue is served by one event context.
 *
 * <p>Nothing is allocated per request: each descriptor head has one {@link DescriptorChain}
 * object, filled again whenever the driver publishes that head, and valid until it is pushed
 * back. A head published again while the device still holds it is a driver mistake (the
 * specification gives a descriptor back to the driver only through the used ring).
 */
public final class SplitVirtqueue {
    public static final int MAX_SIZE = 32768;
    static final int DESC_F_NEXT = 1;
    static final int DESC_F_WRITE = 2;
    static final int DESC_F_INDIRECT = 4;
    static final int AVAIL_F_NO_INTERRUPT = 1;
    static final int USED_F_NO_NOTIFY = 1;

    private final int index;
    private final GuestMemory memory;
    private final int size;
    private final long desc;
    private final long avail;
    private final long used;
    private final boolean eventIdx;
    private final boolean indirect;
    private final QueueInterrupt interrupt;

    private int lastAvail;      // next avail ring slot to take (free-running u16)
    private int usedIdx;        // next used ring slot to fill (free-running u16)
    private int signalledUsed;  // used index at the last interrupt decision (EVENT_IDX)
    private boolean notificationsEnabled = true;
    /** The device's context is polling this ring: the driver's notifications stay suppressed. */
    private boolean polled;
    private final DescriptorChain[] chains;   // one per head, made on first use
    private final boolean[] inFlight;         // heads popped and not pushed yet

    /**
     * @param maxSize the device's maximum; size must be a power of two in [1, maxSize]
     * @throws VirtqueueFault for a bad size, misaligned rings or rings outside guest memory
     */
    public SplitVirtqueue(int index, GuestMemory memory, int size, int maxSize, long desc, long avail, long used,
                          boolean eventIdx, boolean indirect, QueueInterrupt interrupt) {
        this.index = index;
        this.memory = memory;
        this.size = size;
        this.desc = desc;
        this.avail = avail;
        this.used = used;
        this.eventIdx = eventIdx;
        this.indirect = indirect;
        this.interrupt = interrupt;
        int limit = Math.min(maxSize, MAX_SIZE);
        if (size <= 0 || Integer.bitCount(size) != 1) {
            throw new VirtqueueFault(index, "queue size " + size + " is not a power of two");
        }
        if (size > limit) {
            throw new VirtqueueFault(index, "queue size " + size + " is over the device's maximum " + limit);
        }
        checkRing("descriptor table", desc, 16L * size, 16);
        checkRing("available ring", avail, 6L + 2L * size, 2);
        checkRing("used ring", used, 6L + 8L * size, 4);
        // The device writes only the used ring: over the driver's rings its own writes would publish
        // chains (a used idx that is also the avail idx grows with every push, and the device's
        // drain never ends: found by RingFuzzTest).
        checkApart("descriptor table", desc, 16L * size, used, 6L + 8L * size);
        checkApart("available ring", avail, 6L + 2L * size, used, 6L + 8L * size);
        this.chains = new DescriptorChain[size];
        this.inFlight = new boolean[size];
    }

    private void checkRing(String what, long address, long length, int alignment) {
        if ((address & (alignment - 1)) != 0) {
            throw new VirtqueueFault(index, String.format("%s at 0x%x is not %d-byte aligned", what, address, alignment));
        }
        if (!memory.isValid(address, length)) {
            throw new VirtqueueFault(index, String.format("%s [0x%x, +%d) is outside guest memory", what, address, length));
        }
    }

    private void checkApart(String what, long address, long length, long usedAddress, long usedLength) {
        if (address < usedAddress + usedLength && usedAddress < address + length) {
            throw new VirtqueueFault(index, String.format("used ring [0x%x, +%d) overlaps the %s [0x%x, +%d)",
                    usedAddress, usedLength, what, address, length));
        }
    }

    public int index() {
        return index;
    }

    public int size() {
        return size;
    }

    /** The guest memory the ring lives in. */
    public GuestMemory memory() {
        return memory;
    }

    /** Guest-physical address of the available ring. */
    public long availAddress() {
        return avail;
    }

    /** Guest-physical address of the used ring. */
    public long usedAddress() {
        return used;
    }

    /** The next avail slot the device will take (vhost-user GET_VRING_BASE reports it). */
    public int lastAvailIndex() {
        return lastAvail;
    }

    /** Resume from a saved position (vhost-user SET_VRING_BASE semantics). */
    public void setLastAvailIndex(int value) {
        lastAvail = value & 0xffff;
        usedIdx = memory.read16Acquire(used + 2);
        signalledUsed = usedIdx;
    }

    public int usedIndex() {
        return usedIdx;
    }

    /**
     * The avail index the driver has published, read as it is (not checked against the queue
     * size: {@link #pop} does that): a cheap check for pollers.
     */
    public int publishedAvailIndex() {
        return memory.read16Acquire(avail + 2);
    }

    /** Whether the driver has published chains the device has not taken yet. */
    public boolean hasAvailable() {
        return availIndex() != lastAvail;
    }

    private int availIndex() {
        int idx = memory.read16Acquire(avail + 2);
        int pending = (idx - lastAvail) & 0xffff;
        if (pending > size) {
            throw new VirtqueueFault(index, String.format(
                    "avail index jumped from %d to %d, more than the queue size %d", lastAvail, idx, size));
        }
        return idx;
    }

    /**
     * Takes the next available chain, or returns null when the ring is empty. The chain is this
     * queue's object for its head: valid until {@link #push}ed.
     */
    public DescriptorChain pop() {
        if (availIndex() == lastAvail) {
            return null;
        }
        int head = memory.read16(avail + 4 + 2L * (lastAvail & (size - 1)));
        if (head >= size) {
            throw new VirtqueueFault(index, "avail ring names descriptor " + head + ", beyond the queue size " + size);
        }
        if (inFlight[head]) {
            throw new VirtqueueFault(index, "avail ring names descriptor " + head
                    + " again while the device still holds it (it was not returned through the used ring)");
        }
        DescriptorChain chain = chainObject(head);
        walk(head, chain);
        inFlight[head] = true;
        lastAvail = (lastAvail + 1) & 0xffff;
        return chain;
    }

    /**
     * The chain starting at {@code head}, wherever it was published: for a device that takes over
     * a ring whose chains another device took (a dead vhost-user back-end's requests in flight).
     * The chain is this queue's object for its head, held until pushed (by chain or by head).
     *
     * @throws VirtqueueFault if head is out of range or the chain is malformed
     */
    public DescriptorChain chain(int head) {
        if (head < 0 || head >= size) {
            throw new VirtqueueFault(index, "head " + head + " is beyond the queue size " + size);
        }
        DescriptorChain chain = chainObject(head);
        walk(head, chain);
        inFlight[head] = true;
        return chain;
    }

    private DescriptorChain chainObject(int head) {
        DescriptorChain chain = chains[head];
        if (chain == null) {
            chain = chains[head] = new DescriptorChain(memory);
        }
        return chain;
    }

    private void walk(int head, DescriptorChain chain) {
        chain.reset(head);
        long table = desc;
        int tableSize = size;
        boolean inIndirect = false;
        int idx = head;
        int steps = 0;   // descriptors visited in the current table: more than its size means a loop
        int total = 0;   // descriptors in the whole chain
        while (true) {
            if (++steps > tableSize) {
                throw new VirtqueueFault(index, "descriptor loop in chain " + head
                        + (inIndirect ? " (indirect table)" : "") + ": more than " + tableSize + " descriptors visited");
            }
            long d = table + 16L * idx;
            long addr = memory.read64(d);
            int len = memory.read32(d + 8);
            int flags = memory.read16(d + 12);
            int next = memory.read16(d + 14);
            if ((flags & DESC_F_INDIRECT) != 0) {
                if (!indirect) {
                    throw new VirtqueueFault(index, "chain " + head + " uses an indirect descriptor but RING_INDIRECT_DESC was not negotiated");
                }
                if (inIndirect) {
                    throw new VirtqueueFault(index, "chain " + head + ": indirect table inside an indirect table");
                }
                if ((flags & DESC_F_NEXT) != 0) {
                    throw new VirtqueueFault(index, "chain " + head + ": indirect descriptor with NEXT set");
                }
                long tableLen = Integer.toUnsignedLong(len);
                if (tableLen == 0 || tableLen % 16 != 0 || tableLen / 16 > MAX_SIZE) {
                    throw new VirtqueueFault(index, "chain " + head + ": indirect table length " + tableLen + " is not a non-zero multiple of 16 up to " + MAX_SIZE + " entries");
                }
                if ((addr & 0xf) != 0 || !memory.isValid(addr, tableLen)) {
                    throw new VirtqueueFault(index, String.format("chain %d: indirect table [0x%x, +%d) is misaligned or outside guest memory", head, addr, tableLen));
                }
                table = addr;
                tableSize = (int) (tableLen / 16);
                inIndirect = true;
                idx = 0;
                steps = 0;
                continue;
            }
            if (++total > size) {
                throw new VirtqueueFault(index, "chain " + head + " is longer than the queue size " + size);
            }
            if (len != 0) {
                checkBuffer(head, addr, len);
                boolean writable = (flags & DESC_F_WRITE) != 0;
                if (!writable && chain.writableCount() > 0) {
                    throw new VirtqueueFault(index, "chain " + head + ": device-readable descriptor after a device-writable one");
                }
                chain.add(addr, len, writable);
            }
            if ((flags & DESC_F_NEXT) == 0) {
                return;
            }
            if (next >= tableSize) {
                throw new VirtqueueFault(index, "chain " + head + ": next descriptor " + next + " beyond table size " + tableSize);
            }
            idx = next;
        }
    }

    private void checkBuffer(int head, long addr, int len) {
        if (len < 0) {
            throw new VirtqueueFault(index, String.format("chain %d: buffer at 0x%x has length %d (over 2 GiB)", head, addr, Integer.toUnsignedLong(len)));
        }
        if (!memory.isValid(addr, len)) {
            try {
                memory.slice(addr, len);   // only to name what is wrong with the range
            } catch (GuestMemoryException e) {
                throw new VirtqueueFault(index, "chain " + head + ": buffer " + e.getMessage(), e);
            }
            throw new VirtqueueFault(index, String.format("chain %d: buffer [0x%x, +%d) is outside guest memory", head, addr, len));
        }
    }

    /**
     * Returns a chain to the driver with {@code written} bytes written into its writable part.
     * Does not interrupt: call {@link #notifyGuest()} after a batch.
     */
    public void push(DescriptorChain chain, int written) {
        int head = chain.head();
        if (head < 0 || head >= size || chains[head] != chain || !inFlight[head]) {
            throw new IllegalStateException(this + ": " + chain + " is not a chain this queue handed out and still holds"
                    + " (pushed twice, or after a reset)");
        }
        push(head, written);
    }

    /** As {@link #push(DescriptorChain, int)}, by head (a chain that could not be walked). */
    public void push(int head, int written) {
        if (head < 0 || head >= size) {
            throw new IllegalArgumentException(this + ": head " + head + " is beyond the queue size " + size);
        }
        inFlight[head] = false;
        long elem = used + 4 + 8L * (usedIdx & (size - 1));
        memory.write32(elem, head);
        memory.write32(elem + 4, written);
        usedIdx = (usedIdx + 1) & 0xffff;
        memory.write16Release(used + 2, usedIdx);
    }

    /** Raises the queue interrupt if the driver wants one for what was pushed since the last call. */
    public void notifyGuest() {
        if (needsInterrupt()) {
            interrupt.raise();
        }
    }

    /**
     * Raises the queue interrupt whatever the driver asked: for a device taking over a ring from
     * one that may have pushed entries without interrupting (it died in between).
     */
    public void notifyGuestAlways() {
        GuestMemory.fullFence();
        signalledUsed = usedIdx;
        interrupt.raise();
    }

    /** Interrupt suppression both ways: EVENT_IDX's used_event, or the avail NO_INTERRUPT flag. */
    boolean needsInterrupt() {
        GuestMemory.fullFence();   // our used index store before the driver's event/flags load
        int old = signalledUsed;
        int now = usedIdx;
        signalledUsed = now;
        if (old == now) {
            return false;
        }
        if (eventIdx) {
            int usedEvent = memory.read16(avail + 4 + 2L * size);
            return ((now - usedEvent - 1) & 0xffff) < ((now - old) & 0xffff);
        }
        return (memory.read16(avail) & AVAIL_F_NO_INTERRUPT) == 0;
    }

    /**
     * Serves every available chain with the driver's notifications suppressed, then asks for
     * them again and re-checks the ring, so a chain published in between is not missed (the
     * loop every device needs). {@code afterBatch} runs after each pass, e.g. to interrupt.
     */
    public void drain(Consumer<DescriptorChain> serve, Runnable afterBatch) {
        do {
            disableNotifications();
            DescriptorChain chain;
            while ((chain = pop()) != null) {
                serve.accept(chain);
            }
            afterBatch.run();
        } while (enableNotifications());
    }

    /** {@link #drain(Consumer, Runnable)} for devices that complete chains later. */
    public void drain(Consumer<DescriptorChain> serve) {
        drain(serve, () -> { });
    }

    /**
     * Asks the driver not to notify (while the device is draining the ring anyway).
     * With EVENT_IDX this is implicit: the avail_event we publish stays behind.
     */
    public void disableNotifications() {
        if (!notificationsEnabled) {
            return;
        }
        notificationsEnabled = false;
        if (!eventIdx) {
            memory.write16(used, memory.read16(used) | USED_F_NO_NOTIFY);
        }
    }

    /**
     * Asks the driver to notify on the next buffer, then re-checks the ring so a buffer published
     * in between is not missed. Returns true if buffers are available (process them before sleeping).
     */
    public boolean enableNotifications() {
        if (polled) {
            return hasAvailable();   // the poller sees new buffers; the driver need not notify
        }
        notificationsEnabled = true;
        if (eventIdx) {
            memory.write16(used + 4 + 8L * size, lastAvail);
        } else {
            memory.write16(used, memory.read16(used) & ~USED_F_NO_NOTIFY);
        }
        GuestMemory.fullFence();   // publish our request before re-reading the avail index
        return hasAvailable();
    }

    /**
     * The device's context starts polling this ring (QEMU's virtio_queue_set_notification(vq, 0)
     * on io_poll_begin): notifications stay suppressed, even after a {@link #drain}, until
     * {@link #pollingEnded}.
     */
    public void pollingStarted() {
        polled = true;
        disableNotifications();
    }

    /**
     * Polling ends before the context sleeps: asks for notifications again and re-checks the ring,
     * as {@link #enableNotifications} does. Returns true if buffers are available.
     */
    public boolean pollingEnded() {
        polled = false;
        return enableNotifications();
    }

    @Override
    public String toString() {
        return String.format("queue %d (size %d, desc 0x%x, avail 0x%x, used 0x%x)", index, size, desc, avail, used);
    }
}
