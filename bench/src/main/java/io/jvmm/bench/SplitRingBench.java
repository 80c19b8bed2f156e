package io.jvmm.bench;

import io.jvmm.pci.mem.GuestMemory;
import io.jvmm.virtio.queue.DescriptorChain;
import io.jvmm.virtio.queue.SplitVirtqueue;
import org.openjdk.jmh.annotations.*;

import java.util.concurrent.TimeUnit;

/**
 * The device side of a split ring: pop a three-descriptor chain (a virtio-blk request's shape)
 * and push its used entry, with the driver's side played inline (republishing the same head).
 * The reference is the same guest-memory accesses with none of the ring's checks and no objects
 * (read the avail index and entry, the three descriptors, write the used entry and index), so
 * the ratio is the cost of the checks and of the chain the device gets; {@code -prof gc} shows
 * what a pop and push allocate.
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
    private int rawLastAvail;
    private int rawUsed;

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
    public long referenceRawPopPush() {
        publish();
        int idx = memory.read16Acquire(AVAIL + 2);
        int head = memory.read16(AVAIL + 4 + 2L * (rawLastAvail & (SIZE - 1)));
        rawLastAvail = (rawLastAvail + 1) & 0xffff;
        long sum = idx;
        int d = head;
        for (int i = 0; i < 3; i++) {
            long at = DESC + 16L * d;
            sum += memory.read64(at) + memory.read32(at + 8);
            int flags = memory.read16(at + 12);
            d = memory.read16(at + 14);
            if ((flags & 1) == 0) {
                break;
            }
        }
        long elem = USED + 4 + 8L * (rawUsed & (SIZE - 1));
        memory.write32(elem, head);
        memory.write32(elem + 4, 4097);
        rawUsed = (rawUsed + 1) & 0xffff;
        memory.write16Release(USED + 2, rawUsed);
        return sum;
    }
}
