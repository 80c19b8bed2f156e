package io.jvmm.pci.msix;

import static org.junit.jupiter.api.Assertions.*;

import io.jvmm.pci.BarDefinition;
import io.jvmm.pci.TestDevice;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Rule 2 under contention: one thread signals random vectors while another masks and unmasks
 * random vectors (and now and then the whole function) through the guest's paths. Every signal
 * must be accounted for.
 *
 * <p>Deliveries are attributed by thread: on the signalling thread they are direct deliveries
 * (a DELIVERED result), on the masking thread they are pending interrupts released by an unmask.
 * A global clock ticked before and after every operation orders them: a PENDING signal whose
 * operation ran in [s, e] set or found its vector's pending bit at some instant in between, so
 * the first unblocking of that vector after that instant, which happens in an unblocking
 * operation ending after s and starting no later than the first one starting after e, must have
 * delivered; and every delivery on unmask needs a PENDING signal that could have set the bit
 * since the previous one.
 */
class MsixStressTest {

    private static final int VECTORS = 8;
    private static final int SIGNALS = 500_000;
    private static final int MASK_OPS = 500_000;
    /** Neither thread may run further ahead of the other than this, so they overlap however they are scheduled. */
    private static final int MAX_LEAD = 1000;

    private final AtomicLong clock = new AtomicLong();
    private final AtomicInteger signalsDone = new AtomicInteger();
    private final AtomicInteger maskOpsDone = new AtomicInteger();
    private Thread signaller;
    /** Direct deliveries counted on the signalling thread. */
    private final AtomicLongArray direct = new AtomicLongArray(VECTORS);
    /** Vectors delivered by the masking thread during its current operation (thread-confined). */
    private final List<Integer> deliveredInOp = new ArrayList<>();
    private final AtomicReference<String> wrongMessage = new AtomicReference<>();

    private static MsiMessage msg(int v) {
        return new MsiMessage(0xFEE0_0000L | ((long) v << 12), 0x30 + v);
    }

    /** One masking-side operation that unblocked a vector. */
    private record Unblock(long start, long end, boolean delivered) {
    }

    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void noSignalIsLostOrInvented() throws Exception {
        Msix msix = new Msix("stress", VECTORS, m -> {
            int v = (int) ((m.address() >>> 12) & 0xFF);
            if (v >= VECTORS || !m.equals(msg(v))) {
                wrongMessage.compareAndSet(null, m.toString());
                return;
            }
            if (Thread.currentThread() == signaller) {
                direct.incrementAndGet(v);
            } else {
                deliveredInOp.add(v);
            }
        });
        TestDevice dev = new TestDevice("stress").withBar(0, BarDefinition.mem32(0x1000, new MsixBarHandler()));
        int cap = msix.install(dev, 0, 0, 0, 0x800);
        for (int v = 0; v < VECTORS; v++) {
            msix.tableHandler().write(v * 16L, 8, msg(v).address());
            msix.tableHandler().write(v * 16L + 8, 4, msg(v).data());
        }
        dev.configWrite(cap + 2, 2, Msix.CONTROL_ENABLE);

        int[] sigVector = new int[SIGNALS];
        long[] sigStart = new long[SIGNALS];
        long[] sigEnd = new long[SIGNALS];
        SignalResult[] sigResult = new SignalResult[SIGNALS];
        CyclicBarrier go = new CyclicBarrier(2);
        AtomicReference<Throwable> signallerFailure = new AtomicReference<>();
        signaller = new Thread(() -> {
            try {
                SplittableRandom random = new SplittableRandom(1);
                go.await();
                for (int i = 0; i < SIGNALS; i++) {
                    while (i - maskOpsDone.get() > MAX_LEAD && maskOpsDone.get() < MASK_OPS) {
                        Thread.yield();
                    }
                    int v = random.nextInt(VECTORS);
                    sigVector[i] = v;
                    sigStart[i] = clock.incrementAndGet();
                    sigResult[i] = msix.signal(v);
                    sigEnd[i] = clock.incrementAndGet();
                    signalsDone.lazySet(i + 1);
                }
            } catch (Throwable e) {
                signallerFailure.set(e);
            }
        }, "signaller");
        signaller.start();

        boolean[] vectorMasked = new boolean[VECTORS];
        Arrays.fill(vectorMasked, true);
        boolean[] functionMasked = {false};
        List<List<Unblock>> unblocks = new ArrayList<>();
        for (int v = 0; v < VECTORS; v++) {
            unblocks.add(new ArrayList<>());
        }
        List<String> violations = new ArrayList<>();
        MaskOp op = (vector, mask, function) -> {
            boolean[] blockedBefore = new boolean[VECTORS];
            for (int v = 0; v < VECTORS; v++) {
                blockedBefore[v] = vectorMasked[v] || functionMasked[0];
            }
            deliveredInOp.clear();
            long start = clock.incrementAndGet();
            if (function) {
                functionMasked[0] = mask;
                dev.configWrite(cap + 2, 2, Msix.CONTROL_ENABLE | (mask ? Msix.CONTROL_FUNCTION_MASK : 0));
            } else {
                vectorMasked[vector] = mask;
                msix.tableHandler().write(vector * 16L + 12, 4, mask ? 1 : 0);
            }
            long end = clock.incrementAndGet();
            for (int v = 0; v < VECTORS; v++) {
                boolean unblocked = blockedBefore[v] && !(vectorMasked[v] || functionMasked[0]);
                int times = 0;
                for (int d : deliveredInOp) {
                    if (d == v) {
                        times++;
                    }
                }
                if (times > (unblocked ? 1 : 0)) {
                    violations.add("vector " + v + " delivered " + times + " times by an operation that "
                            + (unblocked ? "unblocked it" : "did not unblock it"));
                }
                if (unblocked) {
                    unblocks.get(v).add(new Unblock(start, end, times == 1));
                }
            }
        };

        SplittableRandom random = new SplittableRandom(2);
        go.await();
        for (int i = 0; i < MASK_OPS; i++) {
            while (i - signalsDone.get() > MAX_LEAD && signalsDone.get() < SIGNALS) {
                Thread.yield();
            }
            if (random.nextInt(20) == 0) {
                op.run(-1, !functionMasked[0], true);
            } else {
                op.run(random.nextInt(VECTORS), random.nextBoolean(), false);
            }
            maskOpsDone.lazySet(i + 1);
        }
        signaller.join();
        if (signallerFailure.get() != null) {
            throw new AssertionError("signaller failed", signallerFailure.get());
        }
        // unmask everything: every pending interrupt must come out now
        op.run(-1, false, true);
        for (int v = 0; v < VECTORS; v++) {
            op.run(v, false, false);
        }

        assertNull(wrongMessage.get(), "a delivery carried a message no vector has");
        assertEquals(List.of(), violations.subList(0, Math.min(violations.size(), 10)));
        assertEquals(0L, msix.pbaHandler().read(0, 8), "nothing left pending after unmasking everything");

        long[] delivered = new long[VECTORS];
        long[] pending = new long[VECTORS];
        List<List<long[]>> pendingSignals = new ArrayList<>();
        for (int v = 0; v < VECTORS; v++) {
            pendingSignals.add(new ArrayList<>());
        }
        for (int i = 0; i < SIGNALS; i++) {
            switch (sigResult[i]) {
                case DELIVERED -> delivered[sigVector[i]]++;
                case PENDING -> {
                    pending[sigVector[i]]++;
                    pendingSignals.get(sigVector[i]).add(new long[] {sigStart[i], sigEnd[i]});
                }
                case DROPPED -> fail("MSI-X stayed enabled, yet signal " + i + " was dropped");
            }
        }
        long totalPending = 0;
        long totalReleased = 0;
        for (int v = 0; v < VECTORS; v++) {
            assertEquals(delivered[v], direct.get(v), "vector " + v + ": direct deliveries == DELIVERED results");
            List<Unblock> ops = unblocks.get(v);
            long released = ops.stream().filter(Unblock::delivered).count();
            assertTrue(released <= pending[v], "vector " + v + ": " + released + " releases for " + pending[v] + " PENDING results");
            checkEveryPendingSignalWasReleased(v, pendingSignals.get(v), ops);
            checkEveryReleaseHadAPendingSignal(v, pendingSignals.get(v), ops);
            totalPending += pending[v];
            totalReleased += released;
        }
        assertTrue(totalPending > 100 && totalReleased > 100,
                "the race must actually be exercised: " + totalPending + " PENDING, " + totalReleased + " released");
    }

    private static void checkEveryPendingSignalWasReleased(int v, List<long[]> signals, List<Unblock> ops) {
        int n = ops.size();
        int[] deliveredBefore = new int[n + 1];   // prefix sums of deliveries
        for (int j = 0; j < n; j++) {
            deliveredBefore[j + 1] = deliveredBefore[j] + (ops.get(j).delivered() ? 1 : 0);
        }
        for (long[] s : signals) {
            int from = firstIndex(ops, j -> ops.get(j).end() > s[0]);
            int firstAfter = firstIndex(ops, j -> ops.get(j).start() > s[1]);
            int to = Math.min(firstAfter, n - 1);   // inclusive
            if (from > to || deliveredBefore[to + 1] - deliveredBefore[from] == 0) {
                fail("vector " + v + ": PENDING signal at [" + s[0] + "," + s[1] + "] was never delivered");
            }
        }
    }

    private static void checkEveryReleaseHadAPendingSignal(int v, List<long[]> signals, List<Unblock> ops) {
        long previousReleaseStart = Long.MIN_VALUE;
        for (Unblock op : ops) {
            if (!op.delivered()) {
                continue;
            }
            // the latest PENDING signal that started before this release ended
            int after = firstIndexOfSignals(signals, op.end());
            long latestEnd = after == 0 ? Long.MIN_VALUE : signals.get(after - 1)[1];
            if (latestEnd <= previousReleaseStart) {
                fail("vector " + v + ": delivery on unmask at [" + op.start() + "," + op.end()
                        + "] without a PENDING signal since the previous one");
            }
            previousReleaseStart = op.start();
        }
    }

    /** First index of signals whose start is >= t (signals are in start order). */
    private static int firstIndexOfSignals(List<long[]> signals, long t) {
        int lo = 0;
        int hi = signals.size();
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (signals.get(mid)[0] < t) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        return lo;
    }

    /** First index j for which a monotone predicate holds (ops are in time order), or ops.size(). */
    private static int firstIndex(List<Unblock> ops, java.util.function.IntPredicate holds) {
        int lo = 0;
        int hi = ops.size();
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (holds.test(mid)) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        return lo;
    }

    @FunctionalInterface
    private interface MaskOp {
        void run(int vector, boolean mask, boolean function);
    }
}
