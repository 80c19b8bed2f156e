package io.jvmm.testkit.driver.p9;

import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;

/**
 * A 9P load generator on one connection with a fixed number of requests in flight (the queue
 * depth), for comparing 9P servers (scripts/benchmarks/p9-server-vs-diod):
 * <pre>
 *   P9LoadMain (--unix PATH | --tcp HOST:PORT) --aname A --qd N --seconds S --msize M
 *              (seqread FILE | seqwrite FILE | createstat DIR)
 * </pre>
 * prints one line {@code RESULT value unit msize=M} (MB/s for seqread/seqwrite, ops/s for
 * createstat, where one op is a Tmknod of a regular file followed by Twalk, Tgetattr and Tclunk).
 */
public final class P9LoadMain {
    private P9LoadMain() {
    }

    public static void main(String[] args) {
        String unix = null;
        String tcp = null;
        String aname = "";
        int qd = 16;
        double seconds = 5;
        int msize = 512000;
        String op = null;
        String target = null;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--unix" -> unix = args[++i];
                case "--tcp" -> tcp = args[++i];
                case "--aname" -> aname = args[++i];
                case "--qd" -> qd = Integer.parseInt(args[++i]);
                case "--seconds" -> seconds = Double.parseDouble(args[++i]);
                case "--msize" -> msize = Integer.parseInt(args[++i]);
                default -> {
                    op = args[i];
                    target = args[++i];
                }
            }
        }
        if (op == null || (unix == null) == (tcp == null)) {
            System.err.println("usage: P9LoadMain (--unix PATH | --tcp HOST:PORT) [--aname A] [--qd N] [--seconds S] [--msize M] "
                    + "(seqread FILE | seqwrite FILE | createstat DIR)");
            System.exit(2);
        }
        P9Transport t;
        if (unix != null) {
            t = SocketP9Transport.unix(Path.of(unix));
        } else {
            int colon = tcp.lastIndexOf(':');
            t = SocketP9Transport.tcp(new InetSocketAddress(tcp.substring(0, colon), Integer.parseInt(tcp.substring(colon + 1))));
        }
        try (P9Client c = new P9Client(t, Duration.ofSeconds(60))) {
            c.keepOrder(false);
            int m = c.version(msize);
            c.rpc(P9Wire.attach(0, 0, aname));
            long deadline = System.nanoTime() + (long) (seconds * 1e9);
            long start = System.nanoTime();
            double value;
            String unit;
            switch (op) {
                case "seqread" -> {
                    value = seqRead(c, target, qd, m, deadline) / ((System.nanoTime() - start) / 1e9) / 1e6;
                    unit = "MB/s";
                }
                case "seqwrite" -> {
                    value = seqWrite(c, target, qd, m, deadline) / ((System.nanoTime() - start) / 1e9) / 1e6;
                    unit = "MB/s";
                }
                case "createstat" -> {
                    value = createStat(c, target, qd, deadline) / ((System.nanoTime() - start) / 1e9);
                    unit = "ops/s";
                }
                default -> throw new IllegalArgumentException("unknown operation " + op);
            }
            System.out.printf("RESULT %.2f %s msize=%d%n", value, unit, m);
        }
    }

    private static void walkTo(P9Client c, int fid, String path) {
        String[] parts = path.isEmpty() ? new String[0] : path.replaceAll("^/+", "").split("/");
        c.walk(0, fid, parts);
    }

    /** Reads the file from start to end (and again) with qd reads in flight; returns bytes read. */
    private static long seqRead(P9Client c, String file, int qd, int msize, long deadline) {
        walkTo(c, 1, file);
        long size = c.getattr(1).size();
        c.lopen(1, P9Wire.O_RDONLY);
        int block = msize - 24;
        long next = 0;
        long bytes = 0;
        int inFlight = 0;
        while (System.nanoTime() < deadline || inFlight > 0) {
            while (inFlight < qd && System.nanoTime() < deadline) {
                sent.add(c.send(P9Wire.read(1, next, block)));
                next += block;
                if (next >= size) {
                    next = 0;
                }
                inFlight++;
            }
            if (inFlight == 0) {
                break;
            }
            bytes += completeOne(c, true);
            inFlight--;
        }
        c.clunk(1);
        return bytes;
    }

    /** Writes a new file sequentially (wrapping at 256 MiB) with qd writes in flight; returns bytes written. */
    private static long seqWrite(P9Client c, String file, int qd, int msize, long deadline) {
        int slash = file.lastIndexOf('/');
        walkTo(c, 1, slash <= 0 ? "" : file.substring(0, slash));
        c.rpc(P9Wire.lcreate(1, file.substring(slash + 1), P9Wire.O_RDWR | P9Wire.O_TRUNC, 0644, 0));
        int block = msize - 24;
        byte[] data = new byte[block];
        new java.util.Random(1).nextBytes(data);
        long next = 0;
        long bytes = 0;
        int inFlight = 0;
        while (System.nanoTime() < deadline || inFlight > 0) {
            while (inFlight < qd && System.nanoTime() < deadline) {
                sent.add(c.send(P9Wire.write(1, next, data)));
                next = (next + block) % (256L << 20);
                inFlight++;
            }
            if (inFlight == 0) {
                break;
            }
            bytes += completeOne(c, false);
            inFlight--;
        }
        c.clunk(1);
        return bytes;
    }

    /** Tags sent and not yet awaited, oldest first. */
    private static final java.util.ArrayDeque<Integer> sent = new java.util.ArrayDeque<>();

    /** Waits for the oldest request in flight; returns the bytes it moved. */
    private static long completeOne(P9Client c, boolean read) {
        P9Wire.Reply r = c.await(sent.poll());
        if (r.isError()) {
            throw new P9ClientException(read ? "Tread" : "Twrite", r.errno());
        }
        return Integer.toUnsignedLong(r.body().getInt(0));
    }

    /** qd sequences of Tmknod, Twalk, Tgetattr, Tclunk; returns completed sequences. */
    private static long createStat(P9Client c, String dir, int qd, long deadline) {
        walkTo(c, 1, dir);
        String prefix = "n" + ProcessHandle.current().pid() + "-";
        Map<Integer, int[]> byTag = new HashMap<>();   // tag -> {sequence, step}
        int[] step = new int[qd];
        int[] number = new int[qd];
        int counter = 0;
        long done = 0;
        for (int s = 0; s < qd; s++) {
            number[s] = counter++;
            byTag.put(c.send(P9Wire.mknod(1, prefix + number[s], 0100644, 0, 0, 0)), new int[]{s, 0});
        }
        while (!byTag.isEmpty()) {
            int tag = -1;
            while (tag < 0) {
                for (int t : byTag.keySet()) {
                    if (c.answered(t)) {
                        tag = t;
                        break;
                    }
                }
                if (tag < 0) {
                    c.pump(Duration.ofSeconds(60));
                }
            }
            P9Wire.Reply r = c.await(tag);
            int[] st = byTag.remove(tag);
            if (r.isError()) {
                throw new P9ClientException("createstat step " + st[1], r.errno());
            }
            int s = st[0];
            int fid = 100 + s;
            switch (st[1]) {
                case 0 -> byTag.put(c.send(P9Wire.walk(1, fid, prefix + number[s])), new int[]{s, 1});
                case 1 -> byTag.put(c.send(P9Wire.getattr(fid)), new int[]{s, 2});
                case 2 -> byTag.put(c.send(P9Wire.clunk(fid)), new int[]{s, 3});
                default -> {
                    done++;
                    if (System.nanoTime() < deadline) {
                        number[s] = counter++;
                        byTag.put(c.send(P9Wire.mknod(1, prefix + number[s], 0100644, 0, 0, 0)), new int[]{s, 0});
                    }
                }
            }
        }
        c.clunk(1);
        return done;
    }
}
