package io.jvmm.tests.virtio;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/** virtio-rng hands the guest random bytes through its queue. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class RngTest {
    @TempDir
    Path dir;

    @Test
    void returnsRandomBytes() {
        try (VirtioTestBed bed = VirtioTestBed.create(dir).initialized()) {
            long interruptsBefore = bed.guest.interrupts().count(bed.rng.queue().message());
            byte[] a = bed.rng.read(4096);
            byte[] b = bed.rng.read(4096);
            assertEquals(4096, a.length);
            assertFalse(Arrays.equals(a, new byte[a.length]), "all zero");
            assertFalse(Arrays.equals(a, b), "two reads returned the same bytes");
            int distinct = (int) java.util.stream.IntStream.range(0, a.length).map(i -> a[i] & 0xFF).distinct().count();
            assertTrue(distinct > 200, "only " + distinct + " distinct byte values in 4 KiB");
            assertTrue(bed.guest.interrupts().count(bed.rng.queue().message()) >= interruptsBefore + 2,
                    "each read completed by the queue's interrupt");
        }
    }

    @Test
    void fillsLargeAndOddSizedBuffers() {
        try (VirtioTestBed bed = VirtioTestBed.create(dir).initialized()) {
            byte[] big = bed.rng.read(256 * 1024 + 3);
            assertFalse(Arrays.equals(Arrays.copyOfRange(big, big.length - 4096, big.length), new byte[4096]), "the tail was not filled");
            byte[] one = bed.rng.read(1);
            assertEquals(1, one.length);
        }
    }
}
