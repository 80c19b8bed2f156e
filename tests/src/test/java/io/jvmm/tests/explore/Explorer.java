package io.jvmm.tests.explore;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.slf4j.LoggerFactory;

/**
 * The control-plane interleaving explorer from the command line ({@code scripts/explore}): runs a
 * range of seeds (or for a time budget), replays one seed with its whole trace, or runs the
 * mutation check.
 *
 * <pre>
 *   scripts/explore --seeds 5000 [--from 1]               # seeds 1..5000, the product as it is
 *   scripts/explore --minutes 30                          # as many seeds as fit
 *   scripts/explore --mutation no-masked-drain --seeds 2000
 *   scripts/explore --seed 4711 [--mutation M]            # one seed, twice, with every step printed
 *   scripts/explore --mutations [--seeds 500]             # each mutation: the first seed that catches it
 * </pre>
 *
 * Output: one line per failing seed with its report, then a summary line
 * {@code explored N seeds (M steps) in T s: F failing}; progress on stderr. Exit status 1 if any
 * seed failed (with a mutation, 1 if no seed caught it: a mutation nobody catches is the failure
 * then).
 */
public final class Explorer {
    private Explorer() {
    }

    static final String USAGE = "usage: explore [--seeds N] [--from SEED] [--minutes M] [--mutation none|no-ack-wait|"
            + "no-masked-drain|no-rule3-memory] [--stop-at-first] | --seed SEED [--mutation M] | --mutations [--seeds N]";

    public static void main(String[] args) {
        long from = 1;
        long count = 1000;
        double minutes = 0;
        Long replay = null;
        Mutation mutation = Mutation.NONE;
        boolean stopAtFirst = false;
        boolean mutations = false;
        try {
            for (int i = 0; i < args.length; i++) {
                switch (args[i]) {
                    case "--from" -> from = Long.parseLong(args[++i]);
                    case "--seeds", "--count" -> count = Long.parseLong(args[++i]);
                    case "--minutes" -> minutes = Double.parseDouble(args[++i]);
                    case "--seed", "--replay" -> replay = Long.parseLong(args[++i]);
                    case "--mutation" -> mutation = Mutation.parse(args[++i]);
                    case "--mutations" -> mutations = true;
                    case "--stop-at-first" -> stopAtFirst = true;
                    case "-h", "--help" -> {
                        System.out.println(USAGE);
                        System.exit(0);
                    }
                    default -> throw new IllegalArgumentException("unknown option '" + args[i] + "'");
                }
            }
        } catch (RuntimeException e) {   // a bad number, a missing value, an unknown option or mutation
            System.err.println("explore: " + (e instanceof ArrayIndexOutOfBoundsException ? "an option lacks its value" : e.getMessage()));
            System.err.println(USAGE);
            System.exit(2);
        }
        if (!Boolean.getBoolean("jvmm.explore.log")) {
            quietLogs();
        }
        if (replay != null) {
            System.exit(replay(replay, mutation) ? 0 : 1);
        }
        if (mutations) {
            System.exit(mutationCheck(from, count) ? 0 : 1);
        }
        long deadline = minutes > 0 ? System.nanoTime() + (long) (minutes * 60e9) : Long.MAX_VALUE;
        long start = System.nanoTime();
        long lastProgress = start;
        long steps = 0;
        long explored = 0;
        List<Long> failing = new ArrayList<>();
        System.err.printf("explore: seeds %s%s%n", minutes > 0 ? "from " + from + " for " + minutes + " min" : from + ".." + (from + count - 1),
                mutation == Mutation.NONE ? "" : " with mutation " + mutation.option());
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
            long now = System.nanoTime();
            if (now - lastProgress > 10e9) {
                lastProgress = now;
                System.err.printf("explore: %d seeds (up to %d), %d failing, %.0f s%n", explored, seed, failing.size(), (now - start) / 1e9);
            }
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        System.out.printf("explored %d seeds from %d (%d steps) in %.1f s%s: %d failing%s%n", explored, from, steps, seconds,
                mutation == Mutation.NONE ? "" : " with mutation " + mutation.option(), failing.size(),
                failing.isEmpty() ? "" : " " + (failing.size() > 20 ? failing.subList(0, 20) + "..." : failing));
        if (!failing.isEmpty()) {
            System.out.println("replay one with: scripts/explore --seed " + failing.get(0)
                    + (mutation == Mutation.NONE ? "" : " --mutation " + mutation.option()));
        }
        boolean ok = mutation == Mutation.NONE ? failing.isEmpty() : !failing.isEmpty();
        System.exit(ok ? 0 : 1);
    }

    /** Each mutation in turn: the first seed from {@code from} (at most {@code count}) that catches it; prints the table. */
    static boolean mutationCheck(long from, long count) {
        boolean all = true;
        List<String> rows = new ArrayList<>();
        for (Mutation m : Mutation.values()) {
            if (m == Mutation.NONE) {
                continue;
            }
            long start = System.nanoTime();
            Exploration.Outcome caught = Exploration.firstFailing(m, from, count);
            double seconds = (System.nanoTime() - start) / 1e9;
            if (caught == null) {
                all = false;
                rows.add(String.format("%s\tNOT CAUGHT in seeds %d..%d\t-\t%.1f s", m.option(), from, from + count - 1, seconds));
            } else {
                System.out.println(caught.report());
                rows.add(String.format("%s\t%d\t%s\t%.1f s", m.option(), caught.seed(), caught.violations().get(0), seconds));
            }
            System.err.println("explore: " + rows.get(rows.size() - 1));
        }
        System.out.println("mutation\tseed\tfirst violation\ttime to find");
        rows.forEach(System.out::println);
        return all;
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
