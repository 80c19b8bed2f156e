package io.jvmm.tests.explore;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.slf4j.LoggerFactory;

/**
 * The control-plane interleaving explorer from the command line ({@code scripts/explore}): runs a
 * range of seeds (or for a time budget), or replays one seed with its whole trace.
 *
 * <pre>
 *   scripts/explore --from 1 --count 5000                 # seeds 1..5000, the product as it is
 *   scripts/explore --minutes 30                          # as many seeds as fit
 *   scripts/explore --mutation no-masked-drain --count 2000
 *   scripts/explore --replay 4711 [--mutation M]          # one seed, twice, with every step printed
 * </pre>
 *
 * Output: one line per failing seed with its report, then a summary line
 * {@code explored N seeds (M steps) in T s: F failing}; exit status 1 if any seed failed (0 with a
 * mutation only if some seed caught it: a mutation nobody catches is the failure then).
 */
public final class Explorer {
    private Explorer() {
    }

    public static void main(String[] args) {
        long from = 1;
        long count = 1000;
        double minutes = 0;
        Long replay = null;
        Mutation mutation = Mutation.NONE;
        boolean stopAtFirst = false;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--from" -> from = Long.parseLong(args[++i]);
                case "--count" -> count = Long.parseLong(args[++i]);
                case "--minutes" -> minutes = Double.parseDouble(args[++i]);
                case "--replay" -> replay = Long.parseLong(args[++i]);
                case "--mutation" -> mutation = Mutation.parse(args[++i]);
                case "--stop-at-first" -> stopAtFirst = true;
                default -> {
                    System.err.println("usage: explore [--from SEED] [--count N | --minutes M] [--mutation none|no-ack-wait|"
                            + "no-masked-drain|no-rule3-memory] [--stop-at-first] | --replay SEED [--mutation M]");
                    System.exit(2);
                }
            }
        }
        if (!Boolean.getBoolean("jvmm.explore.log")) {
            quietLogs();
        }
        if (replay != null) {
            System.exit(replay(replay, mutation) ? 0 : 1);
        }
        long deadline = minutes > 0 ? System.nanoTime() + (long) (minutes * 60e9) : Long.MAX_VALUE;
        long start = System.nanoTime();
        long steps = 0;
        long explored = 0;
        List<Long> failing = new ArrayList<>();
        for (long seed = from; (minutes > 0 || seed < from + count) && System.nanoTime() < deadline; seed++) {
            Exploration.Outcome o = Exploration.run(seed, mutation);
            explored++;
            steps += o.steps();
            if (o.failed()) {
                failing.add(seed);
                System.out.println(o.report());
                if (stopAtFirst) {
                    break;
                }
            }
            if (explored % 500 == 0) {
                System.err.printf("explore: %d seeds, %d failing, %.0f s%n", explored, failing.size(), (System.nanoTime() - start) / 1e9);
            }
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        System.out.printf("explored %d seeds from %d (%d steps) in %.1f s%s: %d failing%s%n", explored, from, steps, seconds,
                mutation == Mutation.NONE ? "" : " with mutation " + mutation.option(), failing.size(),
                failing.isEmpty() ? "" : " " + (failing.size() > 20 ? failing.subList(0, 20) + "..." : failing));
        boolean ok = mutation == Mutation.NONE ? failing.isEmpty() : !failing.isEmpty();
        System.exit(ok ? 0 : 1);
    }

    /** Runs the seed twice with every step kept: prints the first run's trace, and whether the second did the same. */
    static boolean replay(long seed, Mutation mutation) {
        Exploration.Outcome first = Exploration.run(seed, mutation, true);
        Exploration.Outcome second = Exploration.run(seed, mutation, true);
        for (String line : first.fullTrace()) {
            System.out.println(line);
        }
        System.out.println(first.failed() ? first.report() : "seed " + seed + ": no violation (" + first.summary() + ")");
        boolean same = first.fingerprint() == second.fingerprint() && first.violations().equals(second.violations());
        System.out.printf("replayed: %s (%d steps, fingerprint %016x; second run %d steps, fingerprint %016x), %d ms%n",
                same ? "identical" : "DIFFERENT", first.steps(), first.fingerprint(), second.steps(), second.fingerprint(),
                TimeUnit.NANOSECONDS.toMillis(first.nanos()));
        return same && !first.failed();
    }

    /** The runs log a lot that is expected (dropped connections are ERRORs): only the explorer's own output remains. */
    static void quietLogs() {
        if (LoggerFactory.getILoggerFactory() instanceof ch.qos.logback.classic.LoggerContext) {
            ((Logger) LoggerFactory.getLogger("io.jvmm")).setLevel(Level.OFF);
        }
    }
}
