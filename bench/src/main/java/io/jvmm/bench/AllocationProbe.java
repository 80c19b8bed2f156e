package io.jvmm.bench;

import com.sun.management.ThreadMXBean;

import java.lang.management.ManagementFactory;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;

/**
 * Which thread allocates, and which sleeps, on the virtio-blk request path: runs reads through
 * {@link BlkBenchGuest} (after a warm-up, so the JIT has settled), then prints the bytes each live
 * thread allocated per read and the context switches each made per read (a thread that sleeps and
 * is woken switches once per sleep). JMH's {@code -prof gc} gives the whole JVM's allocation; this
 * one says where it comes from. The device's poll-max-ns is the benchmarks' (32768) unless given.
 *
 * <pre>java -cp bench/target/benchmarks.jar io.jvmm.bench.AllocationProbe [reads (100000)] [in flight (1)] [poll-max-ns (32768)]</pre>
 */
public final class AllocationProbe {
    private AllocationProbe() {
    }

    public static void main(String[] args) throws Exception {
        int reads = args.length > 0 ? Integer.parseInt(args[0]) : 100_000;
        int inFlight = args.length > 1 ? Integer.parseInt(args[1]) : 1;
        long pollMaxNs = args.length > 2 ? Long.parseLong(args[2]) : 32_768;
        ThreadMXBean threads = (ThreadMXBean) ManagementFactory.getThreadMXBean();
        try (BlkBenchGuest guest = new BlkBenchGuest(BlkReadBench.IMAGE, inFlight, BlkBenchGuest.pollOption(pollMaxNs))) {
            run(guest, reads, inFlight);   // warm-up
            // The /proc reads allocate: they stay outside the allocation snapshots.
            Map<String, Long> switchesBefore = ThreadSwitches.perThread();
            Map<String, Long> before = snapshot(threads);
            long t0 = System.nanoTime();
            run(guest, reads, inFlight);
            long t1 = System.nanoTime();
            Map<String, Long> after = snapshot(threads);
            Map<String, Long> switchesAfter = ThreadSwitches.perThread();
            System.out.printf("%d reads, %d in flight, poll-max-ns %d, %.2f us per read%n", reads, inFlight, pollMaxNs,
                    (t1 - t0) / 1e3 / reads);
            System.out.println("context switches per read:");
            for (Map.Entry<String, Long> e : new TreeMap<>(switchesAfter).entrySet()) {
                double perRead = (double) (e.getValue() - switchesBefore.getOrDefault(e.getKey(), 0L)) / reads;
                if (perRead >= 0.01) {
                    System.out.printf("  %-50s %10.2f%n", e.getKey(), perRead);
                }
            }
            System.out.println("bytes allocated per read:");
            long total = 0;
            for (Map.Entry<String, Long> e : new TreeMap<>(after).entrySet()) {
                long delta = e.getValue() - before.getOrDefault(e.getKey(), 0L);
                total += delta;
                if (delta > 0) {
                    System.out.printf("  %-50s %10.2f B/read%n", e.getKey(), (double) delta / reads);
                }
            }
            System.out.printf("  %-50s %10.2f B/read%n", "all threads", (double) total / reads);
        }
    }

    private static void run(BlkBenchGuest guest, int reads, int inFlight) {
        if (inFlight == 1) {
            for (int i = 0; i < reads; i++) {
                guest.readOne(0, guest.nextSector());
            }
            return;
        }
        for (int s = 0; s < inFlight; s++) {
            guest.submit(s, guest.nextSector());
        }
        guest.kick();
        for (int i = 0; i < reads; i++) {
            int slot = guest.takeCompleted();
            guest.submit(slot, guest.nextSector());
            guest.kick();
        }
        for (int s = 0; s < inFlight; s++) {
            guest.takeCompleted();
        }
    }

    private static Map<String, Long> snapshot(ThreadMXBean threads) {
        Map<String, Long> out = new HashMap<>();
        long[] ids = threads.getAllThreadIds();
        long[] bytes = threads.getThreadAllocatedBytes(ids);
        java.lang.management.ThreadInfo[] infos = threads.getThreadInfo(ids);
        for (int i = 0; i < ids.length; i++) {
            if (infos[i] != null && bytes[i] >= 0) {
                out.merge(infos[i].getThreadName() + "#" + ids[i], bytes[i], Long::sum);
            }
        }
        return out;
    }
}
