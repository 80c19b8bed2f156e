package io.jvmm.virtio.queue;

import io.jvmm.pci.mem.GuestMemory;
import io.jvmm.pci.mem.GuestMemoryException;
import java.util.ArrayList;
import java.util.List;

/**
 * Which chains of a split ring served by someone else (a vhost-user back-end) are in flight:
 * made available by the driver and not returned through the used ring. Read only from the rings
 * in guest memory, never written, so it can run beside a live back-end; when the back-end dies,
 * {@link #inFlight()} names the heads the front-end must complete itself.
 *
 * <p>Why a shadow and not one look at the rings at the end: a back-end may complete out of
 * order, and the driver reuses a returned head at once, so an old request's avail slot can have
 * been overwritten by later ones while that request is still outstanding. The rings alone do not
 * say which heads are in flight then. The shadow does: each {@link #scan()} reads the used entries
 * and then the avail entries published since the previous scan and keeps, per head, the count of
 * times it was made available minus the times it was used (always 0 or 1 for a correct driver).
 * Reading the used index before the avail index makes each scan consistent: every used entry it
 * reads belongs to a submission at an avail position it also reads.
 *
 * <p>Exactness: the shadow is exact as long as no scan misses an entry, i.e. neither ring moved by
 * a whole queue size between two scans (detected by re-reading both indices after the entries:
 * a slot is intact while its index is less than a queue size behind). A scan that misses entries
 * (an overrun), a head out of range or a count outside 0..1 (a driver or back-end bug) makes the
 * shadow inexact; it becomes exact again at the next scan that finds the ring idle (the avail
 * index unchanged around a read of the used index that equals it: nothing is in flight then).
 * While inexact, {@link #inFlight()} falls back to assuming in-order completion (the avail
 * entries from the used index to the avail index), which is exact for in-order back-ends.
 *
 * <p>Not thread-safe: one thread (the device's event context) scans.
 */
public final class InFlightTracker {
    private final int queue;
    private final GuestMemory memory;
    private final int size;
    private final long avail;
    private final long used;
    private final int[] count;
    private final long[] sequence;   // per head: when it was last made available (our own counter)
    private final int[] availScratch;
    private final int[] usedScratch;
    private int availSeen;   // the next avail position to read (free-running u16)
    private int usedSeen;    // the next used position to read (free-running u16)
    private long nextSequence;
    private int outstanding;
    private boolean exact;
    private long overruns;
    private String lastLoss;

    /**
     * Starts tracking a ring the back-end has not touched yet (just started: its used index is the
     * one it starts from), counting whatever the driver made available already as in flight.
     */
    public InFlightTracker(int queue, GuestMemory memory, int size, long avail, long used) {
        if (size <= 0 || size > SplitVirtqueue.MAX_SIZE || Integer.bitCount(size) != 1) {
            throw new IllegalArgumentException("queue " + queue + ": size " + size + " is not a power of two up to " + SplitVirtqueue.MAX_SIZE);
        }
        this.queue = queue;
        this.memory = memory;
        this.size = size;
        this.avail = avail;
        this.used = used;
        this.count = new int[size];
        this.sequence = new long[size];
        this.availScratch = new int[size];
        this.usedScratch = new int[size];
        this.exact = true;
        try {
            int u = memory.read16Acquire(used + 2);
            availSeen = u;   // nothing was taken: avail entries from the used index on are in flight
            usedSeen = u;
        } catch (GuestMemoryException e) {
            lose("the rings are not in guest memory: " + e.getMessage());
        }
        scan();
    }

    public int queue() {
        return queue;
    }

    /** Whether {@link #inFlight()} is exact (see the class comment). */
    public boolean isExact() {
        return exact;
    }

    /** Scans that found a ring moved by a queue size or more since the previous one. */
    public long overruns() {
        return overruns;
    }

    /** Why the shadow last became inexact, or null. */
    public String lastLoss() {
        return lastLoss;
    }

    /** The next avail position not yet accounted for: a device taking over the ring starts here. */
    public int availPosition() {
        return availSeen;
    }

    /**
     * Reads what both rings published since the last scan.
     *
     * @return how many entries moved (avail plus used), to pace the next scan
     */
    public int scan() {
        try {
            return scanRings();
        } catch (GuestMemoryException e) {
            lose("ring read failed: " + e.getMessage());
            return size;
        }
    }

    private int scanRings() {
        int u1 = memory.read16Acquire(used + 2);
        int a1 = memory.read16Acquire(avail + 2);
        int newUsed = (u1 - usedSeen) & 0xffff;
        int newAvail = (a1 - availSeen) & 0xffff;
        if (newUsed > size || newAvail > size) {
            overruns++;
            lose("the rings moved by more than the queue size " + size + " between two scans (avail +" + newAvail
                    + ", used +" + newUsed + ")");
            availSeen = a1;
            usedSeen = u1;
            resyncIfIdle();
            return newUsed + newAvail;
        }
        for (int i = 0; i < newUsed; i++) {
            usedScratch[i] = memory.read32(used + 4 + 8L * ((usedSeen + i) & (size - 1)));
        }
        for (int i = 0; i < newAvail; i++) {
            availScratch[i] = memory.read16(avail + 4 + 2L * ((availSeen + i) & (size - 1)));
        }
        // A slot is rewritten when its index is a queue size behind the published one: re-read both.
        int a2 = memory.read16Acquire(avail + 2);
        int u2 = memory.read16Acquire(used + 2);
        if ((newAvail > 0 && ((a2 - availSeen) & 0xffff) >= size) || (newUsed > 0 && ((u2 - usedSeen) & 0xffff) >= size)) {
            overruns++;
            lose("a ring slot was rewritten while it was read (avail " + availSeen + " -> " + a2 + ", used " + usedSeen + " -> " + u2 + ")");
            availSeen = a1;
            usedSeen = u1;
            resyncIfIdle();
            return newUsed + newAvail;
        }
        if (exact) {
            apply(newAvail, newUsed);
        }
        availSeen = a1;
        usedSeen = u1;
        if (!exact) {
            resyncIfIdle();
        } else if (a1 == u1 && outstanding != 0) {
            lose("the ring reads idle (avail = used = " + a1 + ") but " + outstanding + " heads are counted in flight");
            resyncIfIdle();
        }
        return newUsed + newAvail;
    }

    private void apply(int newAvail, int newUsed) {
        for (int i = 0; i < newAvail; i++) {
            int head = availScratch[i];
            if (head >= size) {
                lose("the avail ring names head " + head + ", beyond the queue size " + size);
                return;
            }
            count[head]++;
            sequence[head] = nextSequence++;
            outstanding++;
        }
        for (int i = 0; i < newUsed; i++) {
            int head = usedScratch[i];
            if (head < 0 || head >= size) {
                lose("the used ring names head " + Integer.toUnsignedString(head) + ", beyond the queue size " + size);
                return;
            }
            count[head]--;
            outstanding--;
        }
        for (int i = 0; i < newAvail; i++) {
            checkCount(availScratch[i]);
        }
        for (int i = 0; i < newUsed && exact; i++) {
            checkCount(usedScratch[i]);
        }
    }

    private void checkCount(int head) {
        int c = count[head];
        if (exact && (c < 0 || c > 1)) {
            lose("head " + head + " was " + (c > 1 ? "made available again while in flight" : "used while not in flight"));
        }
    }

    private void lose(String why) {
        if (exact) {
            lastLoss = why;
        }
        exact = false;
    }

    /** Idle (nothing in flight at one instant): the shadow is exact again, and empty. */
    private void resyncIfIdle() {
        int a = memory.read16Acquire(avail + 2);
        int u = memory.read16Acquire(used + 2);
        int again = memory.read16Acquire(avail + 2);
        if (a != again || a != u) {
            return;
        }
        java.util.Arrays.fill(count, 0);
        outstanding = 0;
        availSeen = a;
        usedSeen = u;
        exact = true;
    }

    /**
     * The heads in flight after a final {@link #scan()}, oldest submission first. Call it once the
     * back-end can no longer write the used ring; while inexact, the avail entries from the used
     * index to the avail position instead (exact for a back-end that completes in order).
     */
    public List<Integer> inFlight() {
        List<Integer> heads = new ArrayList<>();
        if (exact) {
            List<long[]> ordered = new ArrayList<>();
            for (int h = 0; h < size; h++) {
                if (count[h] == 1) {
                    ordered.add(new long[] {sequence[h], h});
                }
            }
            ordered.sort((x, y) -> Long.compare(x[0], y[0]));
            for (long[] e : ordered) {
                heads.add((int) e[1]);
            }
            return heads;
        }
        int u = memory.read16Acquire(used + 2);
        int n = Math.min((availSeen - u) & 0xffff, size);
        boolean[] seen = new boolean[size];
        for (int i = 0; i < n; i++) {
            int head = memory.read16(avail + 4 + 2L * ((u + i) & (size - 1)));
            if (head < size && !seen[head]) {
                seen[head] = true;
                heads.add(head);
            }
        }
        return heads;
    }

    @Override
    public String toString() {
        return "in-flight tracker of queue " + queue + " (size " + size + ", " + (exact ? outstanding + " in flight" : "inexact: " + lastLoss) + ")";
    }
}
