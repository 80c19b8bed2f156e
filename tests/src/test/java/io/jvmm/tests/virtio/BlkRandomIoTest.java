package io.jvmm.tests.virtio;

import io.jvmm.testkit.driver.blk.VirtioBlkDriver;
import io.jvmm.testkit.driver.virtio.QueueSetup;
import io.jvmm.testkit.driver.virtio.VirtioFeatureBits;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/** 64 MiB written and read at random offsets through virtio-blk, several requests in flight. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class BlkRandomIoTest {
    static final long IMAGE = 32L << 20;
    static final long TOTAL = 64L << 20;

    @TempDir
    Path dir;

    @Test
    void randomWritesThenReadsMatchTheFile() throws Exception {
        try (VirtioTestBed bed = VirtioTestBed.create(dir, VirtioTestBed.Options.defaults().imageBytes(IMAGE)).initialized()) {
            RandomIoWorkload io = new RandomIoWorkload(bed.blk, new byte[(int) IMAGE], System.nanoTime(), 8, 1 << 20,
                    new RandomIoWorkload.Hooks() { });
            io.run(TOTAL, 1.0);
            io.verifyFile(bed.image);
            io.run(TOTAL, 0.0);
            io.run(TOTAL / 4, 0.5);
            io.verifyFile(bed.image);
            assertTrue(io.maxObservedInFlight() > 1, "requests were really in flight together");
        }
    }

    @Test
    void worksWithoutEventIdxOrIndirectDescriptorsOnASmallQueue() throws Exception {
        try (VirtioTestBed bed = VirtioTestBed.create(dir, VirtioTestBed.Options.defaults().imageBytes(8L << 20)).initialized()) {
            long features = VirtioBlkDriver.WANTED_FEATURES & ~VirtioFeatureBits.RING_EVENT_IDX & ~VirtioFeatureBits.RING_INDIRECT_DESC;
            bed.blk.initialize(features, QueueSetup.size(32));
            assertFalse(bed.blk.queue().eventIdx());
            assertFalse(bed.blk.queue().indirectNegotiated());
            assertEquals(32, bed.blk.queue().size());
            RandomIoWorkload io = new RandomIoWorkload(bed.blk, new byte[8 << 20], System.nanoTime(), 6, 256 * 1024,
                    new RandomIoWorkload.Hooks() { });
            io.run(8L << 20, 0.6);
            io.verifyFile(bed.image);
        }
    }
}
