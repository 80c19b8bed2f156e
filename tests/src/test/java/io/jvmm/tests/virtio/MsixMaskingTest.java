package io.jvmm.tests.virtio;

import io.jvmm.chardev.Await;
import io.jvmm.pci.msix.MsiMessage;
import io.jvmm.testkit.driver.GuestInterrupts;
import io.jvmm.testkit.driver.Poll;
import io.jvmm.testkit.driver.blk.BlkResponse;
import io.jvmm.testkit.driver.blk.VirtioBlkDriver;
import io.jvmm.testkit.driver.pci.MsixDriver;
import io.jvmm.testkit.driver.virtio.QueueSetup;
import io.jvmm.testkit.driver.virtio.VirtioFeatureBits;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;

import static org.junit.jupiter.api.Assertions.*;

/** Rule 2 seen from the guest: masking an MSI-X vector during I/O never loses a completion's interrupt. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class MsixMaskingTest {
    private static final Logger log = LoggerFactory.getLogger(MsixMaskingTest.class);
    private static final Duration WAIT = Duration.ofSeconds(20);

    @TempDir
    Path dir;

    @ParameterizedTest(name = "function mask: {0}")
    @ValueSource(booleans = {false, true})
    void aCompletionWhileMaskedIsPendingThenDeliveredOnceOnUnmask(boolean functionMask) {
        try (VirtioTestBed bed = VirtioTestBed.create(dir).initialized()) {
            VirtioBlkDriver blk = bed.blk;
            MsixDriver msix = blk.device().msix();
            int vector = blk.device().queueVector(0);
            MsiMessage message = blk.queue().message();
            GuestInterrupts irq = bed.guest.interrupts();
            assertTrue(blk.write(0, new byte[4096]).ok());

            if (functionMask) {
                msix.setFunctionMask(true);
                assertTrue(msix.isFunctionMasked());
            } else {
                msix.mask(vector);
                assertTrue(msix.isMasked(vector));
            }
            long before = irq.count(message);
            CompletableFuture<BlkResponse> write = blk.submitWrite(8, CompletionPatterns.bytes(8192, 1));
            Poll.until(() -> blk.queue().usedPending() > 0, WAIT, () -> "the write to complete");
            Poll.until(() -> msix.isPending(vector), WAIT, () -> "the PBA bit of vector " + vector);
            assertEquals(before, irq.count(message), "delivered while masked");
            assertFalse(write.isDone(), "the guest has not looked at the used ring yet");

            if (functionMask) {
                msix.setFunctionMask(false);
            } else {
                msix.unmask(vector);
            }
            assertEquals(before + 1, irq.count(message), "exactly one interrupt, delivered by the unmasking write");
            assertFalse(msix.isPending(vector));
            assertTrue(blk.await(write).ok());
            assertEquals(0, blk.queue().usedPending());
            assertArrayEquals(CompletionPatterns.bytes(8192, 1), blk.read(8, 8192).data());
            assertEquals(before + 2, irq.count(message), "the read was announced normally");
        }
    }

    @Test
    void randomMaskingDuringRandomIoLosesNothing() throws Exception {
        long image = 32L << 20;
        try (VirtioTestBed bed = VirtioTestBed.create(dir, VirtioTestBed.Options.defaults().imageBytes(image)).initialized()) {
            long seed = System.nanoTime();
            MaskChaos chaos = new MaskChaos(bed.blk, seed);
            RandomIoWorkload io = new RandomIoWorkload(bed.blk, new byte[(int) image], seed, 8, 1 << 20, chaos);
            io.run(64L << 20, 1.0);
            io.run(64L << 20, 0.0);
            chaos.unmask();
            io.verifyFile(bed.image);
            log.info("{} maskings, {} pending interrupts delivered on unmask", chaos.maskings(), chaos.pendingDelivered());
            assertTrue(chaos.pendingDelivered() >= 5, "the masked-completion path was exercised only " + chaos.pendingDelivered() + " times");
        }
    }

    @Test
    void randomMaskingWithoutEventIdxLosesNothing() throws Exception {
        long image = 8L << 20;
        try (VirtioTestBed bed = VirtioTestBed.create(dir, VirtioTestBed.Options.defaults().imageBytes(image)).initialized()) {
            bed.blk.initialize(VirtioBlkDriver.WANTED_FEATURES & ~VirtioFeatureBits.RING_EVENT_IDX, QueueSetup.deviceMax());
            assertFalse(bed.blk.queue().eventIdx());
            long seed = System.nanoTime();
            MaskChaos chaos = new MaskChaos(bed.blk, seed);
            RandomIoWorkload io = new RandomIoWorkload(bed.blk, new byte[(int) image], seed, 8, 512 * 1024, chaos);
            io.run(16L << 20, 0.5);
            chaos.unmask();
            io.verifyFile(bed.image);
            assertTrue(chaos.pendingDelivered() >= 3, "the masked-completion path was exercised only " + chaos.pendingDelivered() + " times");
        }
    }

    /**
     * A second guest CPU masks and unmasks the queue's vector as fast as it can while the first
     * does I/O and waits for each completion by interrupt: a lost interrupt shows as a timeout.
     */
    @Test
    void maskTogglingFromAnotherCpuLosesNoInterrupt() throws Exception {
        long image = 16L << 20;
        try (VirtioTestBed bed = VirtioTestBed.create(dir, VirtioTestBed.Options.defaults().imageBytes(image)).initialized()) {
            MsixDriver msix = bed.blk.device().msix();
            int vector = bed.blk.device().queueVector(0);
            AtomicBoolean stop = new AtomicBoolean();
            AtomicInteger toggles = new AtomicInteger();
            AtomicReference<Throwable> failure = new AtomicReference<>();
            long seed = System.nanoTime();
            Thread cpu1 = new Thread(() -> {
                Random r = new Random(seed);
                try {
                    while (!stop.get()) {
                        msix.mask(vector);
                        LockSupport.parkNanos(r.nextInt(200_000));
                        msix.unmask(vector);
                        toggles.incrementAndGet();
                        LockSupport.parkNanos(r.nextInt(200_000));
                    }
                } catch (Throwable t) {
                    failure.set(t);
                }
            }, "guest-cpu1");
            cpu1.start();
            try {
                RandomIoWorkload io = new RandomIoWorkload(bed.blk, new byte[(int) image], seed, 8, 256 * 1024, new RandomIoWorkload.Hooks() { });
                io.run(32L << 20, 0.5);
                // How many toggles fit in the I/O depends on how the two threads are scheduled: on a
                // loaded host the toggling CPU may barely run. The I/O goes on until it has toggled
                // enough (the hang guard only bounds a toggler that never runs at all).
                long deadline = System.nanoTime() + Await.HANG_GUARD.toNanos();
                while (toggles.get() <= 20 && failure.get() == null && System.nanoTime() - deadline < 0) {
                    io.run(1L << 20, 0.5);
                }
                io.verifyFile(bed.image);
            } finally {
                stop.set(true);
                cpu1.join(10_000);
            }
            assertNull(failure.get(), () -> "the masking CPU failed: " + failure.get());
            assertFalse(msix.isMasked(vector));
            assertFalse(msix.isPending(vector), "a pending bit survived the last unmask");
            log.info("{} mask/unmask pairs during the I/O", toggles.get());
            assertTrue(toggles.get() > 20, "the vector was toggled only " + toggles.get() + " times");
        }
    }
}
