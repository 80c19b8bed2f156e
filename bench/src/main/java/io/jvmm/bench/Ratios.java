package io.jvmm.bench;

import org.openjdk.jmh.profile.GCProfiler;
import org.openjdk.jmh.results.Result;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.ChainedOptionsBuilder;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;

import java.io.File;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * Runs each promise's JMH benchmark and its reference in the same invocation, in rounds that
 * alternate which goes first (each run a fresh fork), and prints one line per promise in the
 * form {@code scripts/bench-all} aggregates:
 * {@code RESULT<TAB>name<TAB>jvmm<TAB>reference<TAB>ratio<TAB>spread<TAB>target<TAB>met}.
 * The ratio is the median of the rounds' ratios, the spread their min-max. Where a promise has
 * an allocation target, a second line gives the benchmark's bytes per operation (JMH's GC
 * profiler, the whole JVM's allocation): that figure does not depend on the host's load.
 *
 * <pre>
 * java -cp bench/target/benchmarks.jar io.jvmm.bench.Ratios [--rounds N] [--quick] [--list] [--log FILE] [NAME...]
 * </pre>
 * Progress goes to stderr, JMH's own output to the log file (default: a temporary file).
 */
public final class Ratios {
    /** Whether a larger or a smaller ratio is better. */
    enum Goal {
        AT_MOST("<="), AT_LEAST(">=");

        final String sign;

        Goal(String sign) {
            this.sign = sign;
        }

        boolean met(double ratio, double target) {
            return this == AT_MOST ? ratio <= target : ratio >= target;
        }
    }

    /**
     * One promise: jvmm's benchmark against its reference.
     *
     * @param allocation bytes per operation the jvmm benchmark may allocate at most, or -1 for no allocation promise
     */
    record Promise(String name, String what, String jvmm, String reference, String referenceLabel, Goal goal, double target,
                   double allocation) {
    }

    static final List<Promise> PROMISES = List.of(
            new Promise("blk-read-qd1", "4 KiB virtio-blk read, no-CPU machine, 1 in flight, device poll-max-ns=32768 (us/read)",
                    "BlkReadBench.virtioBlkRead4k", "BlkReadBench.referenceHostPread4k", "host pread", Goal.AT_MOST, 5, 0.5),
            new Promise("blk-read-qd16", "4 KiB virtio-blk reads, no-CPU machine, 16 in flight, device poll-max-ns=32768 (reads/s)",
                    "BlkRead16Bench.virtioBlkRead4kQd16", "BlkRead16Bench.referenceHostPread4kOneSubmitter",
                    "host pread, 16 in flight from one thread", Goal.AT_LEAST, 0.5, 0.5),
            new Promise("blk-read-qd16-vs-16-threads", "4 KiB virtio-blk reads, 16 in flight, against 16 host threads (reads/s)",
                    "BlkRead16Bench.virtioBlkRead4kQd16", "BlkRead16Bench.referenceHostPread4k16Threads",
                    "host pread, 16 threads", Goal.AT_LEAST, 0.5, -1),
            new Promise("ring-pop-push", "split ring: pop a 3-descriptor chain and push it (ns)",
                    "SplitRingBench.popAndPush", "SplitRingBench.referenceRawPopPush",
                    "the same memory accesses without checks", Goal.AT_MOST, 3, 0.5),
            new Promise("msix-signal", "MSI-X signal of an unmasked vector (ns)",
                    "MsixBench.signalUnmasked", "MsixBench.referenceTwoAtomics", "two atomic updates and a call",
                    Goal.AT_MOST, 3, 0.5),
            new Promise("msix-mask-unmask", "MSI-X signal while masked, then unmask: delivered once (ns)",
                    "MsixBench.signalMaskedThenUnmask", "MsixBench.signalUnmasked", "an unmasked signal",
                    Goal.AT_MOST, 20, 0.5),
            new Promise("guest-memory-read32", "bounds-checked 32-bit guest-memory read (ns)",
                    "GuestMemoryBench.read32", "GuestMemoryBench.referenceDirectBufferRead32", "direct buffer read",
                    Goal.AT_MOST, 2, -1),
            new Promise("vhost-mask-unmask", "MSI-X mask+unmask of a vhost-user-fs vector, both acknowledged by virtiofsd (us)",
                    "VhostMaskBench.maskUnmaskVhostUserFsVector", "VhostMaskBench.referenceBareRoundTrip",
                    "one bare GET_FEATURES round trip to the same virtiofsd", Goal.AT_MOST, 2.5, -1));

    private Ratios() {
    }

    public static void main(String[] args) throws Exception {
        int rounds = 5;
        boolean quick = false;
        File log = null;
        List<String> names = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--rounds" -> rounds = Integer.parseInt(args[++i]);
                case "--quick" -> quick = true;
                case "--log" -> log = new File(args[++i]);
                case "--list" -> {
                    for (Promise p : PROMISES) {
                        System.out.printf("%-28s %s%n", p.name, p.what);
                    }
                    return;
                }
                case "-h", "--help" -> {
                    System.out.println("usage: Ratios [--rounds N] [--quick] [--list] [--log FILE] [NAME...]");
                    return;
                }
                default -> names.add(args[i]);
            }
        }
        if (rounds < 1) {
            throw new IllegalArgumentException("--rounds must be at least 1");
        }
        List<Promise> chosen = new ArrayList<>();
        for (Promise p : PROMISES) {
            if (names.isEmpty() || names.contains(p.name)) {
                chosen.add(p);
            }
        }
        for (String n : names) {
            if (PROMISES.stream().noneMatch(p -> p.name.equals(n))) {
                throw new IllegalArgumentException("no JMH promise named '" + n + "' (try --list)");
            }
        }
        if (log == null) {
            log = Files.createTempFile("jvmm-jmh-", ".log").toFile();
        }
        System.err.printf("[bench] JMH output goes to %s%n", log);
        int failures = 0;
        for (Promise p : chosen) {
            try {
                run(p, rounds, quick, log);
            } catch (RunnerException | RuntimeException e) {
                failures++;
                System.err.printf("[bench] %s failed: %s (see %s)%n", p.name, e, log);
                System.out.printf("RESULT\t%s\tfailed\t%s\t-\t-\t%s %s\tno%n", p.name, p.referenceLabel, p.goal.sign, plain(p.target));
            }
        }
        System.exit(failures == 0 ? 0 : 1);
    }

    private static void run(Promise p, int rounds, boolean quick, File log) throws RunnerException {
        double[] jvmm = new double[rounds];
        double[] ref = new double[rounds];
        double[] alloc = new double[rounds];
        String unit = "";
        for (int r = 0; r < rounds; r++) {
            boolean jvmmFirst = r % 2 == 0;
            for (int k = 0; k < 2; k++) {
                boolean isJvmm = (k == 0) == jvmmFirst;
                String bench = isJvmm ? p.jvmm : p.reference;
                System.err.printf("[bench] %s: round %d/%d, %s%n", p.name, r + 1, rounds, bench);
                RunResult result = runOne(bench, quick, log);
                Result<?> primary = result.getPrimaryResult();
                unit = primary.getScoreUnit();
                if (isJvmm) {
                    jvmm[r] = primary.getScore();
                    Result<?> norm = result.getSecondaryResults().get("gc.alloc.rate.norm");
                    alloc[r] = norm == null ? Double.NaN : norm.getScore();
                } else {
                    ref[r] = primary.getScore();
                }
            }
        }
        double[] ratios = new double[rounds];
        for (int r = 0; r < rounds; r++) {
            ratios[r] = jvmm[r] / ref[r];
        }
        double ratio = median(ratios);
        String u = unit;
        System.out.printf(Locale.ROOT, "RESULT\t%s\t%s %s\t%s %s %s\t%.3f\t%.3f-%.3f\t%s %s\t%s%n", p.name, fmt(median(jvmm)), u,
                p.referenceLabel, fmt(median(ref)), u, ratio, min(ratios), max(ratios), p.goal.sign, plain(p.target),
                p.goal.met(ratio, p.target) ? "yes" : "no");
        if (p.allocation >= 0) {
            double a = median(alloc);
            System.out.printf(Locale.ROOT, "RESULT\t%s allocation\t%.2f B/op\t-\t-\t%.2f-%.2f B/op\t0 B/op\t%s%n", p.name, a,
                    min(alloc), max(alloc), a < p.allocation ? "yes" : "no");
        }
        System.out.flush();
    }

    private static RunResult runOne(String bench, boolean quick, File log) throws RunnerException {
        ChainedOptionsBuilder o = new OptionsBuilder()
                .include("^" + Pattern.quote("io.jvmm.bench." + bench) + "$")
                .forks(1)
                .warmupIterations(quick ? 1 : 2).warmupTime(TimeValue.seconds(quick ? 1 : 2))
                .measurementIterations(quick ? 2 : 3).measurementTime(TimeValue.seconds(quick ? 1 : 2))
                .addProfiler(GCProfiler.class)
                .shouldFailOnError(true)
                .output(log.getPath());
        String extra = System.getenv("JVMM_BENCH_JVM_ARGS");
        if (extra != null && !extra.isBlank()) {
            o.jvmArgsAppend(extra.trim().split("\\s+"));
        }
        Collection<RunResult> results = new Runner(o.build()).run();
        if (results.size() != 1) {
            throw new IllegalStateException(bench + ": expected one JMH result, got " + results.size());
        }
        return results.iterator().next();
    }

    static double median(double[] values) {
        double[] s = values.clone();
        Arrays.sort(s);
        int n = s.length;
        return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    }

    private static double min(double[] v) {
        return Arrays.stream(v).min().orElse(Double.NaN);
    }

    private static double max(double[] v) {
        return Arrays.stream(v).max().orElse(Double.NaN);
    }

    private static String plain(double v) {
        return java.math.BigDecimal.valueOf(v).stripTrailingZeros().toPlainString();
    }

    /** Three significant digits, no exponent. */
    static String fmt(double v) {
        if (Double.isNaN(v)) {
            return "-";
        }
        double a = Math.abs(v);
        String f = a >= 100 ? "%.0f" : a >= 10 ? "%.1f" : a >= 1 ? "%.2f" : "%.3f";
        return String.format(Locale.ROOT, f, v);
    }
}
