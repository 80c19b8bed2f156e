package io.jvmm.tests.explore;

import io.jvmm.pci.mem.GuestMemory;
import io.jvmm.testkit.driver.virtio.RingLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * The explorer guest's side of one split ring (virtio 1.x 2.7), kept deliberately plain: one
 * device-writable buffer per request, every request notified, interrupts always wanted (no
 * EVENT_IDX, no NO_INTERRUPT flag), so every used entry owes the guest an interrupt. The ring sits
 * at a fixed guest address for the whole run, as a driver that is re-probed after a reset may
 * reuse its memory: a device that writes an old ring after its reset then corrupts the new one,
 * which the guest sees.
 */
final class GuestRing {
    static final int SIZE = 32;
    static final int BUFFER = 64;
    private static final int DESC_F_WRITE = 2;

    final int index;
    final RingLayout layout;
    private final GuestMemory memory;
    private final long buffers;
    private final Integer[] inFlight = new Integer[SIZE];
    private int inFlightCount;
    private int availIdx;
    private int lastUsed;

    GuestRing(GuestMemory memory, int index, long base, long buffers) {
        this.memory = memory;
        this.index = index;
        this.layout = RingLayout.of(SIZE, base);
        this.buffers = buffers;
    }

    /** Zeroes the ring and forgets every request (a driver setting the queue up). */
    void setUp() {
        for (long a = layout.desc(); a < layout.desc() + layout.bytes(); a += 2) {
            memory.write16(a, 0);
        }
        java.util.Arrays.fill(inFlight, null);
        inFlightCount = 0;
        availIdx = 0;
        lastUsed = 0;
    }

    boolean full() {
        return inFlightCount == SIZE;
    }

    int inFlight() {
        return inFlightCount;
    }

    int availIdx() {
        return availIdx;
    }

    /** Publishes request {@code id} (a writable buffer) and returns the descriptor it took. */
    int add(int id) {
        int d = 0;
        while (inFlight[d] != null) {
            d++;
        }
        long desc = layout.desc() + 16L * d;
        memory.write64(desc, buffers + (long) BUFFER * d);
        memory.write32(desc + 8, BUFFER);
        memory.write16(desc + 12, DESC_F_WRITE);
        memory.write16(desc + 14, 0);
        inFlight[d] = id;
        inFlightCount++;
        memory.write16(layout.avail() + 4 + 2L * (availIdx % SIZE), d);
        availIdx = (availIdx + 1) & 0xFFFF;
        memory.write16Release(layout.avail() + 2, availIdx);
        return d;
    }

    /** The device's used index, as the guest reads it. */
    int usedIdx() {
        return memory.read16Acquire(layout.used() + 2);
    }

    /**
     * Collects the used entries; an entry for a descriptor that is not in flight (a request
     * completed twice, or after the reset that abandoned it) is reported to {@code violation}.
     *
     * @return the request ids completed
     */
    List<Integer> takeUsed(Consumer<String> violation) {
        List<Integer> done = new ArrayList<>();
        int used = usedIdx();
        int pending = (used - lastUsed) & 0xFFFF;
        if (pending > SIZE) {
            violation.accept(String.format("queue %d: used index moved from %d to %d, more than the ring's %d entries",
                    index, lastUsed, used, SIZE));
            lastUsed = used;
            return done;
        }
        for (int i = 0; i < pending; i++) {
            long elem = layout.used() + 4 + 8L * (lastUsed % SIZE);
            int d = memory.read32(elem);
            lastUsed = (lastUsed + 1) & 0xFFFF;
            if (d < 0 || d >= SIZE || inFlight[d] == null) {
                violation.accept(String.format("queue %d: used entry %d names descriptor %d, which is not in flight "
                        + "(a request completed twice, or after the reset that abandoned it)", index, (lastUsed - 1) & 0xFFFF, d));
                continue;
            }
            done.add(inFlight[d]);
            inFlight[d] = null;
            inFlightCount--;
        }
        return done;
    }

    /** Forgets the requests in flight (the device was reset); returns their ids. */
    List<Integer> abandon() {
        List<Integer> ids = new ArrayList<>();
        for (int d = 0; d < SIZE; d++) {
            if (inFlight[d] != null) {
                ids.add(inFlight[d]);
                inFlight[d] = null;
            }
        }
        inFlightCount = 0;
        return ids;
    }
}
