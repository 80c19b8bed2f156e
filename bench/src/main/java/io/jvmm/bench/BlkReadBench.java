package io.jvmm.bench;

import org.openjdk.jmh.annotations.*;

import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.TimeUnit;

/**
 * A 4 KiB virtio-blk read through the whole no-CPU machine, one in flight: the guest publishes a
 * request (header, data, status through an indirect table, as Linux does), kicks through MMIO
 * when the device asked for it, the device reads the raw image into guest memory, and the guest
 * waits for the queue's MSI-X interrupt and checks the status. The reference is the same 4 KiB
 * pread of the same image on the host, so the ratio is the cost of the virtual device.
 * {@link BlkBenchGuest} allocates nothing per request: {@code -prof gc} shows the machine's own
 * allocation.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
public class BlkReadBench {
    static final long IMAGE = 64 << 20;
    private BlkBenchGuest guest;
    private FileChannel file;
    private final ByteBuffer buffer = ByteBuffer.allocateDirect(BlkBenchGuest.BLOCK);
    /** The device's poll-max-ns: QEMU's iothread default, as a latency-minded user sets it ({@code -p pollMaxNs=0}: without polling, jvmm's default). */
    @Param("32768")
    public long pollMaxNs;

    @Setup
    public void setUp() throws Exception {
        guest = new BlkBenchGuest(IMAGE, 1, BlkBenchGuest.pollOption(pollMaxNs));
        file = FileChannel.open(guest.image, StandardOpenOption.READ);
    }

    @TearDown
    public void tearDown() throws Exception {
        file.close();
        guest.close();
    }

    @Benchmark
    public void virtioBlkRead4k() {
        guest.readOne(0, guest.nextSector());
    }

    @Benchmark
    public int referenceHostPread4k() throws Exception {
        buffer.clear();
        return file.read(buffer, guest.nextSector() * 512);
    }
}
