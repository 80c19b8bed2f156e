package io.jvmm.bench;

import io.jvmm.pci.mem.GuestMemory;
import io.jvmm.virtio.queue.DescriptorChain;
import io.jvmm.virtio.queue.SplitVirtqueue;
import org.openjdk.jmh.annotations.*;

import java.util.concurrent.TimeUnit;

/**
 * The device side of a split ring: pop a three-descriptor chain (a virtio-blk request's shape)
 * and push its used entry, with the driver's side played inline (republishing the same head).
 * The reference is the driver-side work alone, so the ratio is the ring's own cost.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class SplitRingBench {
    private static final int SIZE = 256;
    private static final long DESC = 0x10000;
    private static final long AVAIL = 0x20000;
    private static final long USED = 0x30000;
    private GuestMemory memory;
    private SplitVirtqueue queue;
    private int avail;
    private long interrupts;

    @Setup
    public void setUp() {
        memory = GuestMemory.ofRam("bench", 16 << 20);
        queue = new SplitVirtqueue(0, memory, SIZE, SIZE, DESC, AVAIL, USED, true, true, () -> interrupts++);
        descriptor(0, 0x100000, 16, 1, 1);          // header, NEXT
        descriptor(1, 0x101000, 4096, 1 | 2, 2);    // data, NEXT | WRITE
        descriptor(2, 0x102000, 1, 2, 0);           // status, WRITE
    }

    private void descriptor(int i, long addr, int len, int flags, int next) {
        long d = DESC + 16L * i;
        memory.write64(d, addr);
        memory.write32(d + 8, len);
        memory.write16(d + 12, flags);
        memory.write16(d + 14, next);
    }

    @TearDown
    public void tearDown() {
        memory.close();
    }

    private void publish() {
        memory.write16(AVAIL + 4 + 2L * (avail & (SIZE - 1)), 0);
        avail = (avail + 1) & 0xffff;
        memory.write16Release(AVAIL + 2, avail);
    }

    @Benchmark
    public int popAndPush() {
        publish();
        DescriptorChain chain = queue.pop();
        queue.push(chain, 4097);
        return chain.head();
    }

    @Benchmark
    public int referencePublishOnly() {
        publish();
        return avail;
    }
}
