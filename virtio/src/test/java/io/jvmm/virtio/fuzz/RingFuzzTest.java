package io.jvmm.virtio.fuzz;

import static org.junit.jupiter.api.Assertions.assertTrue;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import io.jvmm.pci.mem.GuestMemory;
import io.jvmm.virtio.queue.DescriptorChain;
import io.jvmm.virtio.queue.InFlightTracker;
import io.jvmm.virtio.queue.SplitVirtqueue;
import io.jvmm.virtio.queue.VirtqueueFault;
import java.nio.ByteBuffer;
import org.junit.jupiter.api.Timeout;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Fuzz targets for what a guest writes into its rings: the device side of a split ring
 * ({@link SplitVirtqueue}: avail ring, descriptor chains, indirect tables) and the front-end's
 * in-flight shadow ({@link InFlightTracker}, which reads avail and used rings a guest and a
 * back-end both write). A guest mistake must end as a {@link VirtqueueFault}; anything else
 * thrown, or a hang, is a bug (timeout-used-ring-over-avail-ring: a used ring over the avail ring
 * made the device's drain endless). Regression inputs: {@code RingFuzzTestInputs/<method>/} in test
 * resources; fuzz with {@code scripts/fuzz RingFuzzTest [seconds]}.
 */
class RingFuzzTest {
    private static final long RAM = 64 * 1024;
    private static final GuestMemory MEMORY = GuestMemory.ofRam("fuzz", RAM);

    private static void fill(FuzzedDataProvider data) {
        byte[] bytes = data.consumeBytes(data.consumeInt(0, (int) RAM));
        byte[] zero = new byte[(int) RAM];
        MEMORY.write(0, zero, 0, zero.length);
        MEMORY.write(data.consumeInt(0, (int) RAM - bytes.length), bytes, 0, bytes.length);
    }

    @FuzzTest(maxDuration = "30s")
    @Timeout(value = 10, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)   // a hang fails (a spinning drain ignores interrupts)
    void splitVirtqueue(FuzzedDataProvider data) {
        int size = 1 << data.consumeInt(0, 9);
        long desc = data.consumeLong(0, RAM) & ~0xfL;
        long avail = data.consumeLong(0, RAM) & ~0x1L;
        long used = data.consumeLong(0, RAM) & ~0x3L;
        boolean eventIdx = data.consumeBoolean();
        boolean indirect = data.consumeBoolean();
        fill(data);
        SplitVirtqueue q;
        try {
            q = new SplitVirtqueue(0, MEMORY, size, 1024, desc, avail, used, eventIdx, indirect, () -> { });
        } catch (VirtqueueFault expected) {
            return;
        }
        try {
            q.setLastAvailIndex(data.consumeInt(0, 0xffff));
            for (int i = 0; i < 64 && q.hasAvailable(); i++) {
                DescriptorChain c = q.pop();
                exercise(c, data);
                q.push(c, (int) Math.min(c.writableLength(), data.consumeInt(0, Integer.MAX_VALUE)));
                q.notifyGuest();
            }
            DescriptorChain c = q.chain(data.consumeInt(0, size - 1));
            exercise(c, data);
            q.drain(chain -> q.push(chain, 0), q::notifyGuest);
        } catch (VirtqueueFault expected) {
            // a guest mistake, reported as one
        }
    }

    private static void exercise(DescriptorChain c, FuzzedDataProvider data) {
        if (c.readableLength() > 0) {
            ByteBuffer dst = ByteBuffer.allocate((int) Math.min(64, c.readableLength()));
            c.copyFromReadable(data.consumeLong(0, c.readableLength() - 1), dst);
        }
        if (c.writableLength() > 0) {
            c.copyToWritable(data.consumeLong(0, c.writableLength() - 1), ByteBuffer.wrap(new byte[] {1, 2, 3}));
        }
    }

    @FuzzTest(maxDuration = "30s")
    void inFlightTracker(FuzzedDataProvider data) {
        int size = 1 << data.consumeInt(0, 9);
        long avail = data.consumeLong(0, RAM - 6 - 2L * size) & ~0x1L;
        long used = data.consumeLong(0, RAM - 6 - 8L * size) & ~0x3L;
        fill(data);
        InFlightTracker t = new InFlightTracker(0, MEMORY, size, avail, used);
        for (int round = 0; round < 16 && data.remainingBytes() > 0; round++) {
            byte[] change = data.consumeBytes(data.consumeInt(0, 64));
            MEMORY.write(data.consumeLong(0, RAM - change.length), change, 0, change.length);
            t.scan();
        }
        List<Integer> heads = t.inFlight();
        Set<Integer> distinct = new HashSet<>(heads);
        assertTrue(distinct.size() == heads.size(), "each head in flight once: " + heads);
        assertTrue(heads.stream().allMatch(h -> h >= 0 && h < size), "heads within the queue: " + heads);
    }
}
