package io.jvmm.tests.explore;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;

/**
 * What a run did, step by step: a fingerprint of every line (two runs of a seed must have the same
 * one: that is what "replays exactly" means) and the last lines, for the report of a failure.
 */
final class Trace {
    private final int keep;
    private final ArrayDeque<String> tail = new ArrayDeque<>();
    private final List<String> all;   // null unless the whole trace is wanted (replay with -Djvmm.explore.trace)
    private long fingerprint = 0xcbf29ce484222325L;
    private long lines;

    Trace(int keep, boolean keepAll) {
        this.keep = keep;
        this.all = keepAll ? new ArrayList<>() : null;
    }

    void step(int depth, String actor, String what) {
        add(depth == 0 ? actor + ": " + what : "  ".repeat(depth) + "(nested) " + actor + ": " + what);
    }

    void note(String what) {
        add("-- " + what);
    }

    private void add(String line) {
        String numbered = lines++ + " " + line;
        for (int i = 0; i < line.length(); i++) {   // FNV-1a over the line, without its number
            fingerprint ^= line.charAt(i);
            fingerprint *= 0x100000001b3L;
        }
        fingerprint ^= '\n';
        fingerprint *= 0x100000001b3L;
        if (all != null) {
            all.add(numbered);
        }
        tail.addLast(numbered);
        if (tail.size() > keep) {
            tail.removeFirst();
        }
    }

    /** Identical for two runs that did the same things in the same order. */
    long fingerprint() {
        return fingerprint;
    }

    long lines() {
        return lines;
    }

    List<String> tail() {
        return List.copyOf(tail);
    }

    /** Every line, if kept. */
    List<String> all() {
        return all == null ? List.of() : List.copyOf(all);
    }
}
