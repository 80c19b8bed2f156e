package io.jvmm.tests.virtio;

import io.jvmm.testkit.driver.blk.BlkResponse;
import io.jvmm.testkit.driver.virtio.DeviceResetException;
import io.jvmm.testkit.driver.virtio.VirtioPciDriver;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A reset written while requests are in flight: device_status reads 0 only once the device is
 * done with them (nothing touches the rings afterwards), the requests never complete, and the
 * re-initialised device works.
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class ResetDuringIoTest {
    private static final Duration WAIT = Duration.ofSeconds(20);

    @TempDir
    Path dir;

    @Test
    void statusReadsZeroOnlyAfterTheInFlightRequestsAreDone() {
        GatedBackend[] gate = new GatedBackend[1];
        VirtioTestBed.Options options = VirtioTestBed.Options.defaults().wrapBackend(b -> gate[0] = new GatedBackend(b));
        try (VirtioTestBed bed = VirtioTestBed.create(dir, options).initialized()) {
            VirtioPciDriver device = bed.blk.device();
            gate[0].shut();
            List<CompletableFuture<BlkResponse>> inFlight = new ArrayList<>();
            for (int i = 0; i < 6; i++) {
                inFlight.add(bed.blk.submitWrite(i * 256L, CompletionPatterns.bytes(64 * 1024, i)));
            }
            gate[0].awaitHeld(6, WAIT);
            long usedIdx = bed.blk.queue().layout().used() + 2;

            device.beginReset();
            // The backend still holds the requests: the reset cannot have completed.
            long until = System.nanoTime() + Duration.ofMillis(300).toNanos();
            while (System.nanoTime() < until) {
                assertNotEquals(0, device.status(), "status read 0 while requests were still in flight");
                LockSupport.parkNanos(10_000_000);
            }
            gate[0].open();
            assertEquals(6, bed.blk.completeReset(), "all six requests were abandoned by the reset");
            assertEquals(0, bed.guest.cpu().memory().read16(usedIdx), "the device completed requests into the ring of a reset queue");
            for (CompletableFuture<BlkResponse> f : inFlight) {
                CompletionException e = assertThrows(CompletionException.class, f::join);
                assertInstanceOf(DeviceResetException.class, e.getCause());
            }

            bed.blk.initialize();
            byte[] data = CompletionPatterns.bytes(128 * 1024, 99);
            assertTrue(bed.blk.write(4096, data).ok());
            assertArrayEquals(data, bed.blk.read(4096, data.length).data());
            assertEquals(VirtioTestBed.SERIAL, bed.blk.id());
        }
    }

    @Test
    void repeatedResetsAtRandomMomentsOfRandomIo() throws Exception {
        long image = 16L << 20;
        try (VirtioTestBed bed = VirtioTestBed.create(dir, VirtioTestBed.Options.defaults().imageBytes(image)).initialized()) {
            Random random = new Random(System.nanoTime());
            for (int round = 0; round < 10; round++) {
                List<CompletableFuture<BlkResponse>> futures = new ArrayList<>();
                for (int i = 0; i < 8; i++) {
                    futures.add(bed.blk.submitWrite(random.nextInt((int) (image / 512) - 2048),
                            CompletionPatterns.bytes(512 * (1 + random.nextInt(2048)), i)));
                }
                LockSupport.parkNanos(random.nextInt(3_000_000));   // let some complete, catch others mid-flight
                int completed = bed.blk.pollCompletions();
                long usedIdx = bed.blk.queue().layout().used() + 2;
                int abandoned = bed.blk.reset();
                assertEquals(8, completed + abandoned, "every request either completed or was abandoned by the reset");
                for (CompletableFuture<BlkResponse> f : futures) {
                    assertTrue(f.isDone());
                    if (!f.isCompletedExceptionally()) {
                        assertTrue(f.join().ok(), () -> f.join().toString());
                    }
                }
                assertEquals(abandoned, futures.stream().filter(CompletableFuture::isCompletedExceptionally).count());
                // Once status reads 0 the device has let go of the ring: it does not change any more.
                int after = bed.guest.cpu().memory().read16(usedIdx);
                LockSupport.parkNanos(20_000_000);
                assertEquals(after, bed.guest.cpu().memory().read16(usedIdx), "the used ring changed after the reset completed");
                bed.blk.initialize();
            }
            // After all that, the device is fully usable: a full random workload passes.
            byte[] current = new byte[(int) image];
            bed.blk.setSegmentBytes(1 << 20);
            for (int off = 0; off < image; off += 1 << 20) {
                BlkResponse r = bed.blk.read(off / 512, 1 << 20);
                assertTrue(r.ok());
                System.arraycopy(r.data(), 0, current, off, 1 << 20);
            }
            RandomIoWorkload io = new RandomIoWorkload(bed.blk, current, random.nextLong(), 8, 1 << 20, new RandomIoWorkload.Hooks() { });
            io.run(8L << 20, 0.5);
            io.verifyFile(bed.image);
        }
    }
}
