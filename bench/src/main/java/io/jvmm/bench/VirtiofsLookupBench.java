package io.jvmm.bench;

import io.jvmm.testkit.driver.fs.FuseAttrOut;
import io.jvmm.testkit.driver.fs.FuseClient;
import io.jvmm.testkit.driver.fs.FuseEntryOut;
import io.jvmm.testkit.driver.fs.FuseRequests;
import org.openjdk.jmh.annotations.*;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Metadata through jvmm's vhost-user-fs-pci and virtiofsd: LOOKUP of a name then GETATTR of the
 * node it returns, 8 names at a time (8 LOOKUPs in flight, each GETATTR sent as soon as its
 * LOOKUP returns), cycling through 64 files. The reference does the same work on the host: Files.readAttributes of the same paths
 * (one stat each, which is a lookup and a getattr in the kernel). One operation is one
 * LOOKUP+GETATTR pair, so the score is pairs per second.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
public class VirtiofsLookupBench {
    static final int FILES = 64;
    static final int BATCH = 8;

    /** 64 small files, f0..f63, of i bytes each (so a wrong GETATTR shows). */
    @State(Scope.Benchmark)
    public static class HostFiles {
        Path dir;
        final String[] names = new String[FILES];
        final Path[] paths = new Path[FILES];
        int next;

        @Setup(Level.Trial)
        public void create() throws IOException {
            dir = VirtiofsMachine.workDir();
            for (int i = 0; i < FILES; i++) {
                names[i] = "f" + i;
                paths[i] = dir.resolve("shared").resolve(names[i]);
                Files.write(paths[i], new byte[i]);
            }
        }

        /** The index of the first of the next batch's names. */
        int nextBatch() {
            int first = next;
            next = (next + BATCH) % FILES;
            return first;
        }

        @TearDown(Level.Trial)
        public void delete() throws IOException {
            VirtiofsMachine.delete(dir);
        }
    }

    @State(Scope.Benchmark)
    public static class Fs {
        VirtiofsMachine vm;
        /** LOOKUPs not yet forgotten, per node: FORGET once at the end keeps the measured work to the pair. */
        final Map<Long, Long> lookups = new HashMap<>();

        @Setup(Level.Trial)
        public void start(HostFiles host) throws Exception {
            vm = VirtiofsMachine.start(host.dir);
        }

        @TearDown(Level.Trial)
        public void stop() {
            try {
                vm.checkHealthy();
                lookups.forEach((node, n) -> vm.fuse.forget(node, n));
            } finally {
                vm.close();
            }
        }
    }

    @Benchmark
    @OperationsPerInvocation(BATCH)
    public long fuseLookupGetattr(Fs fs, HostFiles host) {
        int first = host.nextBatch();
        FuseClient fuse = fs.vm.fuse;
        List<CompletableFuture<FuseEntryOut>> entries = new ArrayList<>(BATCH);
        for (int i = 0; i < BATCH; i++) {
            entries.add(fuse.send(FuseRequests.lookup(FuseClient.ROOT_ID, host.names[first + i]), FuseEntryOut::decode));
        }
        List<CompletableFuture<FuseAttrOut>> attrs = new ArrayList<>(BATCH);
        for (CompletableFuture<FuseEntryOut> e : entries) {
            long node = fuse.await(e).nodeId();
            fs.lookups.merge(node, 1L, Long::sum);
            attrs.add(fuse.submitGetattr(node));
        }
        long sizes = 0;
        for (CompletableFuture<FuseAttrOut> a : attrs) {
            sizes += fuse.await(a).attr().size();
        }
        return checkSizes(first, sizes);
    }

    @Benchmark
    @OperationsPerInvocation(BATCH)
    public long referenceHostStat(HostFiles host) throws IOException {
        int first = host.nextBatch();
        long sizes = 0;
        for (int i = 0; i < BATCH; i++) {
            sizes += Files.readAttributes(host.paths[first + i], BasicFileAttributes.class).size();
        }
        return checkSizes(first, sizes);
    }

    /** File i has i bytes: the batch's sizes add up to a known sum, or the benchmark measured something else. */
    private static long checkSizes(int first, long sizes) {
        long expected = (long) BATCH * first + (long) BATCH * (BATCH - 1) / 2;
        if (sizes != expected) {
            throw new IllegalStateException("sizes of f" + first + "..f" + (first + BATCH - 1) + " add up to " + sizes + ", not " + expected);
        }
        return sizes;
    }
}
