package io.jvmm.bench;

import io.jvmm.testkit.driver.fs.FuseClient;
import org.openjdk.jmh.annotations.*;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Deque;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * FUSE READ throughput of a 512 MiB file through jvmm's vhost-user-fs-pci and virtiofsd on the
 * no-CPU machine: the guest driver keeps 8 READs of 1 MiB in flight on the request queue,
 * virtiofsd preadv()s into the shared guest memory, and the driver waits for each completion's
 * MSI-X interrupt. The reference reads the same file, in the same 1 MiB pieces, with a
 * FileChannel on the host. One operation is 1 MiB, so the score is MiB/s (both from the page
 * cache: the file was just written and the machine has the memory for it).
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 3)
@Measurement(iterations = 5, time = 3)
@Fork(1)
public class VirtiofsReadBench {
    static final int FILE_MIB = 512;
    static final int CHUNK = 1 << 20;
    static final int IN_FLIGHT = 8;
    static final String NAME = "data.bin";

    /** The 512 MiB file in the directory virtiofsd will serve. */
    @State(Scope.Benchmark)
    public static class HostFile {
        Path dir;
        Path file;
        FileChannel channel;
        final ByteBuffer buffer = ByteBuffer.allocate(CHUNK);

        @Setup(Level.Trial)
        public void create() throws IOException {
            dir = VirtiofsMachine.workDir();
            file = dir.resolve("shared").resolve(NAME);
            SplittableRandom random = new SplittableRandom(512);
            byte[] block = new byte[CHUNK];
            try (OutputStream out = Files.newOutputStream(file)) {
                for (int i = 0; i < FILE_MIB; i++) {
                    for (int j = 0; j < CHUNK; j += 8) {
                        long v = random.nextLong();
                        for (int k = 0; k < 8; k++) {
                            block[j + k] = (byte) (v >>> (8 * k));
                        }
                    }
                    out.write(block);
                }
            }
            channel = FileChannel.open(file, StandardOpenOption.READ);
        }

        @TearDown(Level.Trial)
        public void delete() throws IOException {
            channel.close();
            VirtiofsMachine.delete(dir);
        }
    }

    /** The machine, with the file looked up and opened over FUSE. */
    @State(Scope.Benchmark)
    public static class Fs {
        VirtiofsMachine vm;
        long node;
        long fh;

        @Setup(Level.Trial)
        public void start(HostFile host) throws Exception {
            vm = VirtiofsMachine.start(host.dir);
            vm.fuse.setReadChunk(CHUNK);
            if (vm.fuse.readChunk() != CHUNK) {
                throw new IllegalStateException("virtiofsd does not allow 1 MiB READs: " + vm.fuse.session());
            }
            node = vm.fuse.lookup(FuseClient.ROOT_ID, NAME).nodeId();
            fh = vm.fuse.open(node).fh();
            // What is measured must be the file's data: check the last MiB once.
            long last = (long) (FILE_MIB - 1) * CHUNK;
            byte[] expected = new byte[CHUNK];
            ByteBuffer b = ByteBuffer.wrap(expected);
            while (b.hasRemaining() && host.channel.read(b, last + b.position()) > 0) {
                // read it all
            }
            if (!Arrays.equals(expected, vm.fuse.read(node, fh, last, CHUNK))) {
                throw new IllegalStateException("a FUSE READ returned data other than the host file's");
            }
        }

        /** The whole file, 8 READs in flight; returns the bytes read. */
        long readAll() {
            long size = (long) FILE_MIB * CHUNK;
            Deque<CompletableFuture<byte[]>> window = new ArrayDeque<>(IN_FLIGHT);
            long next = 0;
            long total = 0;
            while (next < size || !window.isEmpty()) {
                while (next < size && window.size() < IN_FLIGHT) {
                    window.add(vm.fuse.submitRead(node, fh, next, CHUNK));
                    next += CHUNK;
                }
                total += vm.fuse.await(window.poll()).length;
            }
            if (total != size) {
                throw new IllegalStateException("read " + total + " bytes of " + size);
            }
            return total;
        }

        @TearDown(Level.Trial)
        public void stop() {
            try {
                vm.checkHealthy();
                vm.fuse.release(node, fh);
                vm.fuse.forget(node, 1);
            } finally {
                vm.close();
            }
        }
    }

    @Benchmark
    @OperationsPerInvocation(FILE_MIB)
    public long fuseReadThroughVirtiofs(Fs fs) {
        return fs.readAll();
    }

    @Benchmark
    @OperationsPerInvocation(FILE_MIB)
    public long referenceHostFileChannelRead(HostFile host) throws IOException {
        long total = 0;
        long size = (long) FILE_MIB * CHUNK;
        while (total < size) {
            host.buffer.clear();
            int n = host.channel.read(host.buffer, total);
            if (n <= 0) {
                throw new IllegalStateException("end of file at " + total + " of " + size);
            }
            total += n;
        }
        return total;
    }
}
