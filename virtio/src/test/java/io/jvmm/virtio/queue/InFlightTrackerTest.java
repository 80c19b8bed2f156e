package io.jvmm.virtio.queue;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jvmm.pci.mem.GuestMemory;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The in-flight shadow against a driver and an out-of-order "back-end" that write the rings by
 * hand: exact while scans keep up, an overrun detected and recovered from at the next idle moment,
 * and the case that makes a shadow necessary (an outstanding head's avail slot overwritten).
 */
class InFlightTrackerTest {
    static final int SIZE = 8;
    static final long AVAIL = 0x2000;
    static final long USED = 0x3000;

    private final GuestMemory memory = GuestMemory.ofRam("ram", 1 << 20);
    private int availIdx;
    private int usedIdx;
    private final Set<Integer> truth = new LinkedHashSet<>();
    private final Deque<Integer> free = new ArrayDeque<>();

    InFlightTrackerTest() {
        for (int h = 0; h < SIZE; h++) {
            free.add(h);
        }
    }

    @AfterEach
    void close() {
        memory.close();
    }

    private InFlightTracker tracker() {
        return new InFlightTracker(0, memory, SIZE, AVAIL, USED);
    }

    private int submit() {
        int head = free.poll();
        memory.write16(AVAIL + 4 + 2L * (availIdx % SIZE), head);
        availIdx = (availIdx + 1) & 0xffff;
        memory.write16Release(AVAIL + 2, availIdx);
        truth.add(head);
        return head;
    }

    private void complete(int head) {
        assertTrue(truth.remove(head), "the test completes only heads in flight");
        memory.write32(USED + 4 + 8L * (usedIdx % SIZE), head);
        memory.write32(USED + 8 + 8L * (usedIdx % SIZE), 0);
        usedIdx = (usedIdx + 1) & 0xffff;
        memory.write16Release(USED + 2, usedIdx);
        free.add(head);
    }

    @Test
    void anOutstandingHeadWhoseAvailSlotWasOverwrittenIsStillFound() {
        InFlightTracker t = tracker();
        int old = submit();
        t.scan();
        for (int i = 0; i < SIZE - 1; i++) {
            submit();
        }
        t.scan();
        // The back-end completes everything but the first, out of order; the driver reuses the
        // heads, overwriting the first request's avail slot (position 0 = position SIZE).
        for (int round = 0; round < 3; round++) {
            for (int h : List.copyOf(truth)) {
                if (h != old) {
                    complete(h);
                }
            }
            t.scan();
            while (free.size() > 0) {
                submit();
            }
            t.scan();
        }
        assertNotEquals(old, memory.read16(AVAIL + 4), "the first request's slot holds another head now");
        assertTrue(t.isExact(), t::toString);
        assertEquals(List.copyOf(truth), t.inFlight(), "the heads in flight, oldest first");
        assertEquals(old, t.inFlight().get(0));
    }

    @Test
    void randomOutOfOrderTrafficIsTrackedExactlyWhileScansKeepUp() {
        Random random = new Random(7);
        InFlightTracker t = tracker();
        for (int step = 0; step < 200_000; step++) {
            int moved = 0;
            int burst = 1 + random.nextInt(SIZE - 1);   // less than a queue size per ring between scans
            for (int i = 0; i < burst; i++) {
                if (!free.isEmpty() && (truth.isEmpty() || random.nextBoolean())) {
                    submit();
                } else if (!truth.isEmpty() && moved < SIZE - 1) {
                    List<Integer> inFlight = List.copyOf(truth);
                    complete(inFlight.get(random.nextInt(inFlight.size())));
                    moved++;
                }
            }
            t.scan();
            assertTrue(t.isExact(), () -> t.toString());
            if (step % 997 == 0) {
                assertEquals(new HashSet<>(truth), new HashSet<>(t.inFlight()), "step " + step);
            }
        }
        assertEquals(0, t.overruns());
    }

    @Test
    void anOverrunIsDetectedAndTheNextIdleMomentMakesTheShadowExactAgain() {
        InFlightTracker t = tracker();
        for (int round = 0; round < 3; round++) {   // 3 * SIZE entries through each ring unseen
            while (!free.isEmpty()) {
                submit();
            }
            for (int h : List.copyOf(truth)) {
                complete(h);
            }
        }
        int kept = submit();
        t.scan();
        assertFalse(t.isExact(), "a scan that missed entries says so");
        assertEquals(1, t.overruns());
        // Inexact: the in-order fallback (avail entries from the used index) still finds it.
        assertEquals(List.of(kept), t.inFlight());

        complete(kept);
        t.scan();
        assertTrue(t.isExact(), "idle: nothing in flight, the shadow is exact again");
        int a = submit();
        int b = submit();
        complete(a);
        t.scan();
        assertEquals(List.of(b), t.inFlight());
    }

    @Test
    void aDuplicateHeadFromABuggyDriverMakesTheShadowInexactNotWrong() {
        InFlightTracker t = tracker();
        int head = submit();
        memory.write16(AVAIL + 4 + 2L * (availIdx % SIZE), head);   // the same head published twice
        availIdx++;
        memory.write16Release(AVAIL + 2, availIdx);
        t.scan();
        assertFalse(t.isExact());
        assertTrue(t.lastLoss().contains("made available again while in flight"), t.lastLoss());
    }

    @Test
    void chainsPublishedBeforeTheBackEndStartedCountAsInFlight() {
        int a = submit();
        int b = submit();
        InFlightTracker t = tracker();
        assertEquals(List.of(a, b), t.inFlight());
        assertEquals(2, t.availPosition(), "a device taking over the ring would start after them");
    }
}
