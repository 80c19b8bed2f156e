package io.jvmm.devices.p9.server;

import io.jvmm.testkit.driver.p9.P9Client;
import io.jvmm.testkit.driver.p9.P9Wire;
import io.jvmm.testkit.driver.p9.P9Wire.Reply;

import java.time.Duration;
import java.util.ArrayList;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.function.Consumer;

/**
 * A randomized 9P workload with random flushes, many requests in flight: reads, getattrs,
 * statfs and readdirs on fixed fids, and walks that make fids and clunks that drop them, whose
 * effects the client tracks as the protocol says (a request answered took effect; one released by
 * an Rflush did not). Tflush names random requests in flight, sometimes several times, sometimes a
 * Tflush. At the end every fid is clunked.
 */
final class RandomFlushRun {
    /** What the run saw. */
    record Outcome(int sent, int flushes, int answered, int released, int stillInFlight, List<String> violations) {
    }

    private final P9Client c;
    private final Random random;
    private final int depth;
    private final Map<Integer, Consumer<Reply>> pending = new HashMap<>();
    private final ArrayDeque<Integer> freeFids = new ArrayDeque<>();
    private final List<Integer> liveFids = new ArrayList<>();
    private final Set<Integer> busyFids = new HashSet<>();
    private int answered;
    private int released;
    private int flushes;

    /** Fids 1..files are open files, fid files+1 the open root directory (set up by the caller). */
    RandomFlushRun(P9Client client, long seed, int depth) {
        this.c = client;
        this.random = new Random(seed);
        this.depth = depth;
        for (int f = 1000; f < 1000 + 4 * depth; f++) {
            freeFids.add(f);
        }
    }

    /**
     * Sends {@code requests} requests (flushes besides); {@code quiet} is how long an empty wire
     * with requests still in flight ends the run (they are then lost).
     */
    Outcome run(int requests, int files, String[] names, Duration quiet) {
        int sent = 0;
        boolean lost = false;
        c.keepOrder(false);
        while (sent < requests && !lost) {
            while (pending.size() < depth && sent < requests) {
                sendOne(files, names);
                sent++;
                if (random.nextInt(8) == 0) {
                    sendFlushes();
                }
            }
            lost = !collect(quiet);
        }
        while (!pending.isEmpty() && !lost) {
            lost = !collect(quiet);
        }
        if (!lost) {
            for (int fid : List.copyOf(liveFids)) {
                c.clunk(fid);
            }
            liveFids.clear();
        }
        return new Outcome(sent, flushes, answered, released, c.inFlight(), c.violations());
    }

    private void sendOne(int files, String[] names) {
        int op = random.nextInt(100);
        if (op < 35) {
            int fid = 1 + random.nextInt(files);
            int tag = c.send(P9Wire.read(fid, random.nextInt(65536), 1 + random.nextInt(8192)));
            pending.put(tag, r -> { });
        } else if (op < 50) {
            int tag = c.send(P9Wire.getattr(random.nextInt(files + 1)));
            pending.put(tag, r -> { });
        } else if (op < 58) {
            int tag = c.send(P9Wire.statfs(0));
            pending.put(tag, r -> { });
        } else if (op < 66) {
            int tag = c.send(P9Wire.readdir(files + 1, 0, 512 + random.nextInt(4096)));
            pending.put(tag, r -> { });
        } else if (op < 84 && !freeFids.isEmpty()) {
            int fid = freeFids.poll();
            busyFids.add(fid);
            int tag = c.send(P9Wire.walk(0, fid, names[random.nextInt(names.length)]));
            pending.put(tag, r -> {
                busyFids.remove(fid);
                if (!r.isEmpty() && !r.isError()) {
                    liveFids.add(fid);            // answered: the fid exists
                } else {
                    freeFids.add(fid);            // refused or flushed before it started: it does not
                }
            });
        } else {
            List<Integer> candidates = new ArrayList<>(liveFids);
            candidates.removeAll(busyFids);
            if (candidates.isEmpty()) {
                int tag = c.send(P9Wire.getattr(0));
                pending.put(tag, r -> { });
                return;
            }
            int fid = candidates.get(random.nextInt(candidates.size()));
            busyFids.add(fid);
            int tag = c.send(P9Wire.clunk(fid));
            pending.put(tag, r -> {
                busyFids.remove(fid);
                if (!r.isEmpty()) {               // Rclunk (or an error: the fid is gone either way)
                    liveFids.remove((Integer) fid);
                    freeFids.add(fid);
                }
            });
        }
    }

    private void sendFlushes() {
        List<Integer> inFlight = c.inFlightTags();
        if (inFlight.isEmpty()) {
            return;
        }
        int victim = inFlight.get(random.nextInt(inFlight.size()));
        int n = 1 + (random.nextInt(3) == 0 ? 1 + random.nextInt(2) : 0);   // sometimes two or three for one victim
        for (int i = 0; i < n; i++) {
            int tag = c.flush(victim);
            flushes++;
            pending.put(tag, r -> { });
        }
    }

    /** Takes replies until at least one request ended; false when the wire stayed quiet. */
    private boolean collect(Duration quiet) {
        boolean any = c.pump(quiet);
        while (c.pump(Duration.ZERO)) {
            any = true;
        }
        if (!any) {
            return pending.isEmpty();
        }
        for (Integer tag : List.copyOf(pending.keySet())) {
            if (c.answered(tag)) {
                Reply r = c.await(tag);
                if (r.isEmpty()) {
                    released++;
                } else {
                    answered++;
                }
                pending.remove(tag).accept(r);
            }
        }
        return true;
    }
}
