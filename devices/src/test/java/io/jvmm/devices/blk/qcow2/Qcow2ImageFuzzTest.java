package io.jvmm.devices.blk.qcow2;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.jvmm.devices.FuzzChecks;
import io.jvmm.devices.blk.nbd.NbdClientSettings;
import io.jvmm.devices.blk.loop.NettyLoop;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Fuzz target for qcow2 metadata parsing (header, extensions, L1, L2, refcount table and blocks,
 * compressed and subcluster entries): the fuzz bytes are an image file, opened read-only, then
 * read at a few places the bytes choose. The open must succeed or fail with an
 * {@link IllegalArgumentException} naming the image, a read must complete or fail with an
 * {@link IOException}, each within a bound (no hang); no Java runtime exception of ours (an
 * index, a buffer position, a negative size) may appear among the causes; and the open may not
 * allocate much more than the file holds (a header may not make us allocate the 256 MiB its
 * limits allow for tables that the file does not contain). Regression inputs in
 * {@code Qcow2ImageFuzzTestInputs/image/} (images made by qemu-img and broken ones).
 */
class Qcow2ImageFuzzTest {
    private static final Path DIR = FuzzChecks.tempDirectory("qcow2-fuzz");
    /** A backing file named by an nbd: URI gets a short bound (the fuzzer may name any address). */
    private static final NbdClientSettings BACKING_NBD = new NbdClientSettings(java.time.Duration.ofSeconds(1),
            java.time.Duration.ofSeconds(1), java.time.Duration.ZERO);
    /** What the open may allocate besides twice the file's size: the header, one cluster (2 MiB at most) for the compressed cache, small objects. */
    private static final long ALLOCATION_SLACK = 8L << 20;
    private static final com.sun.management.ThreadMXBean THREADS =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();


    @FuzzTest(maxDuration = "30s")
    void image(byte[] input) throws Exception {
        Path image = DIR.resolve("fuzz.qcow2");
        Files.write(image, input);
        try (NettyLoop.Lease loop = NettyLoop.acquire("qcow2-fuzz")) {
            Qcow2Backend b;
            long before = THREADS.getCurrentThreadAllocatedBytes();
            try {
                b = Qcow2Backend.open("fuzz", image, true, BACKING_NBD, loop.loop());
            } catch (IllegalArgumentException refused) {
                checkAllocation(image, input.length, THREADS.getCurrentThreadAllocatedBytes() - before, loop.loop());
                FuzzChecks.refusedByUs(refused);
                return;
            }
            checkAllocation(image, input.length, THREADS.getCurrentThreadAllocatedBytes() - before, loop.loop());
            try {
                long size = b.size();
                ByteBuffer in = ByteBuffer.wrap(input);
                for (int i = 0; i < 4 && size > 0; i++) {
                    long at = in.remaining() >= 8 ? Math.floorMod(in.getLong(), size) : i * 65536L % size;
                    int n = (int) Math.min(65536, size - at);
                    try {
                        b.read(ByteBuffer.allocate(n), at).get(10, TimeUnit.SECONDS);
                    } catch (ExecutionException failed) {
                        if (!(failed.getCause() instanceof IOException)) {
                            fail("a read at " + at + " failed with " + failed.getCause(), failed.getCause());
                        }
                        FuzzChecks.refusedByUs(failed.getCause());
                    } catch (TimeoutException e) {
                        fail("a read at " + at + " of " + n + " bytes took more than 10 s");
                    }
                }
            } finally {
                b.close();
            }
        } finally {
            Files.deleteIfExists(image);
        }
    }

    /**
     * The open may allocate about what the file holds. Over the bound, the open is measured once
     * more: the first use of a code path loads (and under the fuzzer instruments) classes on this
     * thread, which is not the image's doing; the second measurement decides.
     */
    private static void checkAllocation(Path image, int fileBytes, long allocated, NettyLoop loop) {
        long bound = 2L * fileBytes + ALLOCATION_SLACK;
        if (allocated <= bound) {
            return;
        }
        long before = THREADS.getCurrentThreadAllocatedBytes();
        try {
            Qcow2Backend.open("fuzz", image, true, BACKING_NBD, loop).close();
        } catch (IllegalArgumentException refused) {
            // refused again, as the first time
        }
        long again = THREADS.getCurrentThreadAllocatedBytes() - before;
        assertTrue(again <= bound, () -> "opening a " + fileBytes + "-byte image allocated " + again + " bytes (first time " + allocated + ")");
    }
}
