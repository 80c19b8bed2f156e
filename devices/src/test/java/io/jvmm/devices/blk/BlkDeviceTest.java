package io.jvmm.devices.blk;

import static org.junit.jupiter.api.Assertions.*;

import io.jvmm.testkit.TestMachine;
import io.jvmm.virtio.pci.VirtioPciDevice;
import io.jvmm.platform.BuiltDevice;
import io.jvmm.testkit.driver.Guest;
import io.jvmm.testkit.driver.blk.BlkResponse;
import io.jvmm.testkit.driver.blk.VirtioBlkDriver;
import io.jvmm.testkit.driver.virtio.VirtioPciDriver;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * virtio-blk-pci as a user of the test kit builds it: from QEMU-style options on the no-CPU
 * machine, driven by the guest driver. Data against the image file, the drive's options, and the
 * device's meters.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class BlkDeviceTest {
    private static final int SECTOR = 512;

    @TempDir
    Path dir;

    private Path image(int bytes, long seed) throws Exception {
        Path p = dir.resolve("disk-" + seed + ".img");
        byte[] content = new byte[bytes];
        new Random(seed).nextBytes(content);
        Files.write(p, content);
        return p;
    }

    private static VirtioBlkDriver driver(TestMachine machine) {
        VirtioBlkDriver blk = new VirtioBlkDriver(VirtioPciDriver.probeFirst(Guest.of(machine), BlkDevice.DEVICE_TYPE));
        blk.initialize();
        return blk;
    }

    /** A no-CPU machine with {@code image} as raw drive d0 and {@code device} (a virtio-blk-pci on drive=d0). */
    private static TestMachine machine(Path image, String device) {
        return TestMachine.builder().option("-drive", "file=" + image + ",format=raw,if=none,id=d0").device(device).build();
    }

    /** The 4 KiB a read of {@code sector} returned are the image's bytes there. */
    private static void assertImageBytes(byte[] image, long sector, BlkResponse read, String message) {
        int at = (int) sector * SECTOR;
        assertArrayEquals(Arrays.copyOfRange(image, at, at + 4096), read.data(), message);
    }

    @Test
    void readsAndWritesAreTheImageFilesBytes() throws Exception {
        Path image = image(1 << 20, 1);
        byte[] before = Files.readAllBytes(image);
        try (TestMachine machine = machine(image, "virtio-blk-pci,id=blk0,drive=d0,serial=beside-the-code")) {
            VirtioBlkDriver blk = driver(machine);
            assertEquals((1 << 20) / SECTOR, blk.config().capacitySectors());
            assertEquals("beside-the-code", blk.id());
            BlkResponse r = blk.read(8, 4096);
            assertTrue(r.ok(), r.toString());
            assertImageBytes(before, 8, r, "sector 8");

            byte[] data = new byte[8192];
            new Random(2).nextBytes(data);
            assertTrue(blk.write(100, data).ok());
            assertTrue(blk.flush().ok());
        }
        byte[] after = Files.readAllBytes(image);
        assertArrayEquals(Arrays.copyOfRange(after, 100 * SECTOR, 100 * SECTOR + 8192), written(2, 8192));
        assertArrayEquals(Arrays.copyOfRange(before, 0, 100 * SECTOR), Arrays.copyOfRange(after, 0, 100 * SECTOR), "nothing else changed");
    }

    private static byte[] written(long seed, int n) {
        byte[] data = new byte[n];
        new Random(seed).nextBytes(data);
        return data;
    }

    @Test
    void aReadOnlyDriveRefusesWritesAndLeavesTheFileAsItWas() throws Exception {
        Path image = image(64 * 1024, 3);
        byte[] before = Files.readAllBytes(image);
        try (TestMachine machine = TestMachine.builder()
                .option("-drive", "file=" + image + ",format=raw,if=none,id=d0,readonly=on")
                .device("virtio-blk-pci,drive=d0").build()) {
            VirtioBlkDriver blk = driver(machine);
            assertTrue(blk.readOnly(), "VIRTIO_BLK_F_RO offered");
            assertFalse(blk.write(0, new byte[SECTOR]).ok(), "the write fails with IOERR");
            assertTrue(blk.read(0, SECTOR).ok());
        }
        assertArrayEquals(before, Files.readAllBytes(image));
    }

    @Test
    void theDevicesMetersCountWhatTheGuestDid() throws Exception {
        Path image = image(1 << 20, 4);
        try (TestMachine machine = machine(image, "virtio-blk-pci,id=blk0,drive=d0")) {
            VirtioBlkDriver blk = driver(machine);
            blk.read(0, 4096);
            blk.read(8, 8192);
            blk.write(64, new byte[2048]);
            assertFalse(blk.read((1 << 20) / SECTOR, SECTOR).ok(), "past the end: IOERR");
            MeterRegistry meters = machine.meters();
            assertEquals(3, meters.get("jvmm.blk.requests").tags("device", "blk0", "type", "IN").counter().count());
            assertEquals(1, meters.get("jvmm.blk.requests").tags("device", "blk0", "type", "OUT").counter().count());
            assertEquals(4096 + 8192, meters.get("jvmm.blk.bytes").tags("device", "blk0", "direction", "read").counter().count());
            assertEquals(2048, meters.get("jvmm.blk.bytes").tags("device", "blk0", "direction", "write").counter().count());
            assertEquals(1, meters.get("jvmm.blk.errors").tags("device", "blk0").counter().count());
            assertEquals(0, meters.get("jvmm.blk.in.flight").tags("device", "blk0").gauge().value());
            assertTrue(meters.get("jvmm.virtio.interrupts").tags("device", "blk0").counter().count() >= 4,
                    "every completion raised an interrupt");
        }
    }

    /**
     * poll-max-ns (QEMU's iothread polling): with a window that only grows here (every wait is
     * shorter than 1 s), the device's context soon catches requests by polling the avail index.
     * The data is right either way. After the driver's reset and a new initialisation (new rings,
     * new pollers; the context's window stays grown) the device still serves.
     */
    @Test
    void withPollingOnRequestsAreServedByPollingWithTheImagesBytes() throws Exception {
        Path image = image(1 << 20, 11);
        byte[] before = Files.readAllBytes(image);
        try (TestMachine machine = machine(image, "virtio-blk-pci,id=blk0,drive=d0,poll-max-ns=1000000000")) {
            VirtioPciDevice device = (VirtioPciDevice) ((BuiltDevice.Pci) machine.devices().get(0)).device();
            assertEquals(1_000_000_000L, device.context().pollMaxNs());
            for (int round = 0; round < 2; round++) {
                VirtioBlkDriver blk = driver(machine);
                for (int i = 0; i < 100; i++) {
                    long sector = (i * 37L % 250) * 8;
                    BlkResponse r = blk.read(sector, 4096);
                    assertTrue(r.ok(), r.toString());
                    assertImageBytes(before, sector, r, "round " + round + " sector " + sector);
                }
            }
            assertTrue(device.context().polledDispatches() > 0, "no request was found by polling");
        }
        try (TestMachine machine = machine(image, "virtio-blk-pci,id=blk0,drive=d0")) {
            VirtioBlkDriver blk = driver(machine);
            for (int i = 0; i < 10; i++) {
                assertTrue(blk.read(i * 8L, 4096).ok());
            }
            // The device asks for the next buffer when its pass ends, just after the interrupt the read returned on.
            io.jvmm.chardev.Await.until(() -> blk.queue().availIndex() == blk.queue().deviceAvailEvent(),
                    "without polling the device asks for every next buffer (avail_event at the avail index)");
        }
        RuntimeException e = assertThrows(RuntimeException.class, () -> machine(image, "virtio-blk-pci,id=blk0,drive=d0,poll-max-ns=-1"));
        assertTrue(e.getMessage().contains("poll-max-ns"), e.getMessage());
    }

    /**
     * The other half of the suppression: when the poll window runs out the ring asks for
     * notifications again before the context sleeps. In each burst of 30 reads the window grows
     * (up to 2 ms) until polling catches the reads, which leaves avail_event behind; each pause of
     * 20 ms outlasts the window, so the context stops polling and sleeps, and the read after the
     * pause reaches it only because the ring asked for notifications again (without that the
     * driver, seeing avail_event behind, would not kick, and the read would time out).
     */
    @Test
    void aReadAfterThePollWindowRanOutIsNotifiedAgain() throws Exception {
        Path image = image(1 << 20, 12);
        byte[] before = Files.readAllBytes(image);
        try (TestMachine machine = machine(image, "virtio-blk-pci,id=blk0,drive=d0,poll-max-ns=2000000")) {
            VirtioBlkDriver blk = driver(machine);
            for (int pause = 0; pause < 10; pause++) {
                for (int i = 0; i < 30; i++) {
                    long sector = ((pause * 30L + i) * 37 % 250) * 8;
                    BlkResponse r = blk.read(sector, 4096);
                    assertTrue(r.ok(), "read " + i + " after pause " + pause + ": " + r);
                    assertImageBytes(before, sector, r, "sector " + sector);
                }
                Thread.sleep(20);
            }
        }
    }

    /**
     * num-queues=2: the device offers VIRTIO_BLK_F_MQ and num_queues 2, and serves each queue on
     * its own notification (a device that served queue 0 for every kick would leave the requests
     * on queue 1 unanswered). Without the option: one queue and no MQ, as before.
     */
    @Test
    void multiqueueServesEveryQueueItOffers() throws Exception {
        Path image = image(1 << 20, 8);
        byte[] before = Files.readAllBytes(image);
        long mq = 1L << BlkDevice.F_MQ;
        try (TestMachine machine = machine(image, "virtio-blk-pci,id=blk0,drive=d0,num-queues=2")) {
            VirtioBlkDriver blk = new VirtioBlkDriver(VirtioPciDriver.probeFirst(Guest.of(machine), BlkDevice.DEVICE_TYPE));
            blk.initialize(VirtioBlkDriver.WANTED_FEATURES | mq, io.jvmm.testkit.driver.virtio.QueueSetup.deviceMax(), 2);
            assertTrue((blk.device().negotiatedFeatures() & mq) != 0, "VIRTIO_BLK_F_MQ offered and negotiated");
            assertEquals(2, blk.device().readConfig16(BlkConfig.NUM_QUEUES), "num_queues in the configuration");
            for (int round = 0; round < 3; round++) {
                for (int q = 1; q >= 0; q--) {
                    long sector = (round * 2L + q) * 8;
                    BlkResponse r = blk.useQueue(q).read(sector, 4096);
                    assertTrue(r.ok(), "queue " + q + ": " + r);
                    assertImageBytes(before, sector, r, "queue " + q + " sector " + sector);
                }
            }
            byte[] data = written(9, 4096);
            assertTrue(blk.useQueue(1).write(300, data).ok());
            assertArrayEquals(data, blk.useQueue(0).read(300, 4096).data());
        }
        try (TestMachine machine = machine(image, "virtio-blk-pci,drive=d0")) {
            VirtioBlkDriver blk = new VirtioBlkDriver(VirtioPciDriver.probeFirst(Guest.of(machine), BlkDevice.DEVICE_TYPE));
            blk.initialize(VirtioBlkDriver.WANTED_FEATURES | mq, io.jvmm.testkit.driver.virtio.QueueSetup.deviceMax());
            assertEquals(0, blk.device().negotiatedFeatures() & mq, "one queue: no VIRTIO_BLK_F_MQ");
            assertTrue(blk.read(0, 512).ok());
        }
        RuntimeException e = assertThrows(RuntimeException.class,
                () -> machine(image, "virtio-blk-pci,drive=d0,num-queues=" + (BlkDevice.MAX_QUEUES + 1)));
        assertTrue(e.getMessage().contains("num-queues"), e.getMessage());
    }

    @Test
    void aMissingImageIsAUserErrorNamingTheDrive() {
        Path absent = dir.resolve("absent.img");
        RuntimeException e = assertThrows(RuntimeException.class, () -> TestMachine.builder()
                .option("-drive", "file=" + absent + ",if=none,id=d9").device("virtio-blk-pci,drive=d9").build());
        assertTrue(e.getMessage().contains("-drive d9") && e.getMessage().contains("does not exist"), e.getMessage());
    }

    @Test
    void anImageOfAPartialSectorShowsOnlyWholeSectors() throws Exception {
        Path image = dir.resolve("odd.img");
        try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "rw")) {
            f.setLength(10 * SECTOR + 100);
        }
        try (TestMachine machine = TestMachine.builder()
                .option("-drive", "file=" + image + ",if=none,id=d0").device("virtio-blk-pci,drive=d0").build()) {
            assertEquals(10, driver(machine).config().capacitySectors());
        }
    }

    /**
     * ARCHITECTURE: the data plane never passes through the MMIO writer of the no-CPU machine (nor
     * a vCPU). A small request is served on the device's own context (the fast path), a refused
     * one on the back-end's I/O threads: the thread that wrote the doorbell never touches the data.
     */
    @Test
    void smallRequestsAreServedOnTheDevicesContextNeverOnTheMmioWriter() throws Exception {
        Path image = image(1 << 20, 6);
        byte[] before = Files.readAllBytes(image);   // also puts it in the page cache: the fast path can serve it
        ThreadRecordingBackend backend = new ThreadRecordingBackend(new RawFileBackend("blk0", image, false, 2));
        byte[] data = written(7, 4096);
        try (TestMachine machine = new TestMachine(16 << 20)) {
            machine.addVirtio(new BlkDevice(new BlkOptions("blk0", DriveOptions.raw("d0", image, false), null,
                    BlkOptions.DEFAULT_QUEUE_SIZE), backend, BlkMetrics.unregistered("blk0")));
            VirtioBlkDriver blk = driver(machine);
            for (int i = 0; i < 16; i++) {
                BlkResponse r = blk.read(i * 8L, 4096);
                assertTrue(r.ok(), r.toString());
                assertImageBytes(before, i * 8L, r, "sector " + i * 8);
            }
            assertTrue(blk.write(200, data).ok());
            assertArrayEquals(data, blk.read(200, 4096).data());
            assertFalse(blk.read(2040, 8192).ok(), "past the end: refused before any fast path");
        }
        assertTrue(backend.offered.get() >= 17, "the device offered the small requests to the fast path: " + backend);
        assertFalse(backend.threads.contains(Thread.currentThread()),
                "the MMIO writer (this thread) served I/O: " + backend.threads);
        assertArrayEquals(data, Arrays.copyOfRange(Files.readAllBytes(image), 200 * SECTOR, 200 * SECTOR + 4096));
    }

    /** The raw back-end, recording which threads its data calls run on. */
    private static final class ThreadRecordingBackend implements BlockBackend {
        final BlockBackend inner;
        final Set<Thread> threads = ConcurrentHashMap.newKeySet();
        final AtomicInteger offered = new AtomicInteger();
        final AtomicInteger servedNow = new AtomicInteger();

        ThreadRecordingBackend(BlockBackend inner) {
            this.inner = inner;
        }

        private void seen() {
            threads.add(Thread.currentThread());
        }

        @Override public long size() { return inner.size(); }
        @Override public boolean readOnly() { return inner.readOnly(); }
        @Override public CompletableFuture<Void> read(ByteBuffer dst, long position) { seen(); return inner.read(dst, position); }
        @Override public CompletableFuture<Void> write(ByteBuffer src, long position) { seen(); return inner.write(src, position); }
        @Override public CompletableFuture<Void> flush() { seen(); return inner.flush(); }
        @Override public CompletableFuture<Void> discard(long position, long length) { seen(); return inner.discard(position, length); }
        @Override public CompletableFuture<Void> writeZeroes(long position, long length, boolean mayUnmap) {
            seen();
            return inner.writeZeroes(position, length, mayUnmap);
        }
        @Override public String describe() { return inner.describe(); }
        @Override public void close() { inner.close(); }

        @Override
        public boolean tryReadNow(IoVector dst, long position) {
            return offered(() -> inner.tryReadNow(dst, position));
        }

        @Override
        public boolean tryWriteNow(IoVector src, long position) {
            return offered(() -> inner.tryWriteNow(src, position));
        }

        private boolean offered(java.util.function.BooleanSupplier fastPath) {
            seen();
            offered.incrementAndGet();
            boolean done = fastPath.getAsBoolean();
            if (done) {
                servedNow.incrementAndGet();
            }
            return done;
        }

        @Override
        public String toString() {
            return offered + " offered to the fast path, " + servedNow + " served there, threads " + threads;
        }
    }
}
