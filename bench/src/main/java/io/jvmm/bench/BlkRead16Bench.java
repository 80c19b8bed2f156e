package io.jvmm.bench;

import org.openjdk.jmh.annotations.*;

import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.TimeUnit;

/**
 * 4 KiB virtio-blk reads with 16 in flight on the no-CPU machine, as IOPS: one guest thread keeps
 * 16 requests published and replaces each as it completes (one operation = one completed read).
 *
 * <p>References, the same 4 KiB reads of the same image on the host:
 * {@link #referenceHostPread4kOneSubmitter} is one thread keeping 16 reads in flight as fio's
 * io_uring or libaio engines do (a cached buffered read completes at submission, so this is that
 * thread's pread rate: the promise's reference); {@link #referenceHostPread4k16Threads} is 16
 * threads each doing pread (shown for comparison: on a shared 2-core host 16 runnable threads
 * also take a larger share of the CPUs than the VMM's few).
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
public class BlkRead16Bench {
    static final int IN_FLIGHT = 16;

    /** The machine with 16 requests in flight. */
    @State(Scope.Thread)
    public static class Machine {
        BlkBenchGuest guest;
        /** The device's poll-max-ns: QEMU's iothread default, as a latency-minded user sets it ({@code -p pollMaxNs=0}: without polling, jvmm's default). */
        @Param("32768")
        public long pollMaxNs;

        @Setup
        public void setUp() throws Exception {
            guest = new BlkBenchGuest(BlkReadBench.IMAGE, IN_FLIGHT, BlkBenchGuest.pollOption(pollMaxNs));
            for (int s = 0; s < IN_FLIGHT; s++) {
                guest.submit(s, guest.nextSector());
            }
            guest.kick();
        }

        @TearDown
        public void tearDown() throws Exception {
            for (int s = 0; s < IN_FLIGHT; s++) {   // let the last requests finish before the machine goes
                guest.takeCompleted();
            }
            guest.close();
        }
    }

    /** The image, opened on the host (shared by the reference threads). */
    @State(Scope.Benchmark)
    public static class HostFile {
        BlkBenchGuest guest;
        FileChannel file;

        @Setup
        public void setUp() throws Exception {
            guest = new BlkBenchGuest(BlkReadBench.IMAGE, 1);
            file = FileChannel.open(guest.image, StandardOpenOption.READ);
        }

        @TearDown
        public void tearDown() throws Exception {
            file.close();
            guest.close();
        }
    }

    /** Each host thread's buffer and walk over the image. */
    @State(Scope.Thread)
    public static class HostThread {
        final ByteBuffer buffer = ByteBuffer.allocateDirect(BlkBenchGuest.BLOCK);
        long sector = Thread.currentThread().getId() * 8 * 101;

        long next() {
            sector = (sector + 8 * 37) % (BlkReadBench.IMAGE / 512 - 8);
            return sector & ~7L;
        }
    }

    @Benchmark
    public void virtioBlkRead4kQd16(Machine m) {
        int slot = m.guest.takeCompleted();
        m.guest.submit(slot, m.guest.nextSector());
        m.guest.kick();
    }

    @Benchmark
    public int referenceHostPread4kOneSubmitter(HostFile h, HostThread t) throws Exception {
        t.buffer.clear();
        return h.file.read(t.buffer, t.next() * 512);
    }

    @Benchmark
    @Threads(IN_FLIGHT)
    public int referenceHostPread4k16Threads(HostFile h, HostThread t) throws Exception {
        t.buffer.clear();
        return h.file.read(t.buffer, t.next() * 512);
    }
}
