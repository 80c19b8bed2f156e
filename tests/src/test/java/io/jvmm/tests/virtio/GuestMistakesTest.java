package io.jvmm.tests.virtio;

import io.jvmm.tests.support.ProblemLog;
import io.jvmm.testkit.driver.PageAllocator;
import io.jvmm.testkit.driver.blk.BlkProtocol;
import io.jvmm.testkit.driver.blk.VirtioBlkDriver;
import io.jvmm.testkit.driver.virtio.Chain;
import io.jvmm.testkit.driver.virtio.QueueSetup;
import io.jvmm.testkit.driver.virtio.SplitQueue;
import io.jvmm.testkit.driver.virtio.VirtioPciDriver;
import io.jvmm.testkit.driver.virtio.VirtioStatus;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Every guest mistake breaks only the device it was made on: that device sets
 * DEVICE_NEEDS_RESET and raises its configuration interrupt, the other device carries on, and a
 * reset plus re-initialisation brings the broken device back.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class GuestMistakesTest {
    private static final Duration WAIT = Duration.ofSeconds(10);
    /** Far above the machine's 128 MiB of RAM. */
    private static final long OUTSIDE_RAM = 0x40_0000_0000L;

    @TempDir
    Path dir;

    enum Victim { BLK, RNG }

    enum Mistake {
        DESCRIPTOR_LOOP(Victim.BLK, "loop", bed -> {
            SplitQueue q = bed.blk.queue();
            long page = blkHeader(bed, BlkProtocol.T_OUT);
            // Both device-readable, so that only the loop is wrong (not the readable/writable order).
            q.rawDescriptor(0, page, 16, 1 /* NEXT */, 1);
            q.rawDescriptor(1, page + 512, 512, 1, 0);   // ... and back to 0
            q.rawPublish(0);
            q.notifyDevice();
        }),
        CHAIN_LONGER_THAN_QUEUE(Victim.BLK, "longer than the queue size", bed -> {
            SplitQueue q = bed.blk.queue();
            long page = blkHeader(bed, BlkProtocol.T_IN);
            int entries = q.size() + 1;
            long table = bed.guest.pages().allocate(16L * entries);
            long data = bed.guest.pages().allocate(512L * entries);
            q.rawTableEntry(table, 0, page, 16, 1, 1);
            for (int i = 1; i < entries - 1; i++) {
                q.rawTableEntry(table, i, data + 512L * i, 512, 1 | 2, i + 1);
            }
            q.rawTableEntry(table, entries - 1, page + 16, 1, 2, 0);
            q.rawDescriptor(0, table, 16 * entries, 4 /* INDIRECT */, 0);
            q.rawPublish(0);
            q.notifyDevice();
        }),
        BUFFER_OUTSIDE_GUEST_MEMORY(Victim.BLK, "outside guest memory", bed -> {
            SplitQueue q = bed.blk.queue();
            long page = blkHeader(bed, BlkProtocol.T_IN);
            q.add(Chain.create().readable(page, 16).writable(OUTSIDE_RAM, 4096).writable(page + 16, 1), "bad buffer");
            q.kick();
        }),
        INDIRECT_TABLE_INSIDE_INDIRECT_TABLE(Victim.BLK, "indirect table inside an indirect table", bed -> {
            SplitQueue q = bed.blk.queue();
            long page = blkHeader(bed, BlkProtocol.T_IN);
            long inner = bed.guest.pages().allocate(PageAllocator.PAGE);
            q.rawTableEntry(inner, 0, page, 16, 1, 1);
            q.rawTableEntry(inner, 1, page + 16, 1, 2, 0);
            long outer = bed.guest.pages().allocate(PageAllocator.PAGE);
            q.rawTableEntry(outer, 0, inner, 32, 4 /* INDIRECT inside an indirect table */, 0);
            q.rawDescriptor(0, outer, 16, 4, 0);
            q.rawPublish(0);
            q.notifyDevice();
        }),
        QUEUE_SIZE_ZERO(Victim.BLK, "queue size 0 ", bed -> bed.blk.initialize(VirtioBlkDriver.WANTED_FEATURES, QueueSetup.unchecked(0))),
        QUEUE_SIZE_NOT_POWER_OF_TWO(Victim.BLK, "queue size 100 ", bed -> bed.blk.initialize(VirtioBlkDriver.WANTED_FEATURES, QueueSetup.unchecked(100))),
        QUEUE_SIZE_OVER_MAXIMUM(Victim.BLK, "queue size 256 is over the device's maximum", bed -> bed.blk.initialize(VirtioBlkDriver.WANTED_FEATURES, QueueSetup.unchecked(2 * bed.blk.queue().size()))),
        AVAIL_INDEX_JUMPS_BEYOND_QUEUE_SIZE(Victim.BLK, "avail index", bed -> {
            SplitQueue q = bed.blk.queue();
            q.rawSetAvailIndex(q.availIndex() + q.size() + 1);
            q.notifyDevice();
        }),
        BLK_STATUS_BYTE_DEVICE_READABLE(Victim.BLK, "device-writable", bed -> {
            SplitQueue q = bed.blk.queue();
            long page = blkHeader(bed, BlkProtocol.T_OUT);
            q.add(Chain.create().readable(page, 16).readable(page + 512, 512).readable(page + 16, 1), "readable status");
            q.kick();
        }),
        RNG_BUFFER_DEVICE_READABLE(Victim.RNG, "device-writable", bed -> {
            SplitQueue q = bed.rng.queue();
            q.add(Chain.create().readable(bed.guest.pages().allocate(PageAllocator.PAGE), 64), "readable entropy buffer");
            q.kick();
        });

        final Victim victim;
        /** What the device's fault report must mention, so the right check fired. */
        final String reason;
        final Consumer<VirtioTestBed> provoke;

        Mistake(Victim victim, String reason, Consumer<VirtioTestBed> provoke) {
            this.victim = victim;
            this.reason = reason;
            this.provoke = provoke;
        }
    }

    /** A page with a virtio-blk request header of {@code type} for sector 0 at offset 0. */
    private static long blkHeader(VirtioTestBed bed, int type) {
        long page = bed.guest.pages().allocateZeroed(bed.guest.cpu(), PageAllocator.PAGE);
        bed.guest.cpu().memory().write32(page, type);
        return page;
    }

    @ParameterizedTest
    @EnumSource(Mistake.class)
    void breaksOnlyThatDeviceUntilReset(Mistake mistake) {
        try (VirtioTestBed bed = VirtioTestBed.create(dir).initialized(); ProblemLog log = new ProblemLog()) {
            VirtioPciDriver victim = mistake.victim == Victim.BLK ? bed.blk.device() : bed.rng.device();
            VirtioPciDriver bystander = mistake.victim == Victim.BLK ? bed.rng.device() : bed.blk.device();
            long victimConfigIrqs = victim.configInterrupts();
            long bystanderConfigIrqs = bystander.configInterrupts();
            assertFalse(victim.needsReset());

            mistake.provoke.accept(bed);

            assertTrue(victim.awaitConfigInterrupt(victimConfigIrqs, WAIT), "no configuration interrupt from the broken device");
            int status = victim.status();
            assertTrue((status & VirtioStatus.DEVICE_NEEDS_RESET) != 0, () -> mistake + ": status " + VirtioStatus.describe(status));
            assertTrue(log.contains(mistake.reason), () -> "the fault reported is not about '" + mistake.reason + "': " + log.problems());
            assertFalse(bystander.needsReset(), "the other device was affected");
            assertEquals(bystanderConfigIrqs, bystander.configInterrupts(), "the other device raised a configuration interrupt");

            bystanderWorks(bed, mistake.victim == Victim.BLK ? Victim.RNG : Victim.BLK, 1);

            if (mistake.victim == Victim.BLK) {
                bed.blk.reset();
                bed.blk.initialize();
            } else {
                bed.rng.reset();
                bed.rng.initialize();
            }
            assertFalse(victim.needsReset(), "DEVICE_NEEDS_RESET survived the reset");
            assertEquals(VirtioStatus.ACKNOWLEDGE | VirtioStatus.DRIVER | VirtioStatus.FEATURES_OK | VirtioStatus.DRIVER_OK, victim.status());
            bystanderWorks(bed, mistake.victim, 2);
            bystanderWorks(bed, mistake.victim == Victim.BLK ? Victim.RNG : Victim.BLK, 3);
        }
    }

    private static void bystanderWorks(VirtioTestBed bed, Victim which, long seed) {
        if (which == Victim.RNG) {
            byte[] random = bed.rng.read(256);
            assertFalse(Arrays.equals(random, new byte[256]), "entropy device returned zeroes");
        } else {
            byte[] data = CompletionPatterns.bytes(8192, seed);
            assertTrue(bed.blk.write(64 * seed, data).ok());
            assertArrayEquals(data, bed.blk.read(64 * seed, data.length).data());
        }
    }
}
