package io.jvmm.bench;

import io.jvmm.pci.mem.GuestMemory;
import io.jvmm.pci.msix.MsiMessage;
import io.jvmm.pci.msix.RecordingInterruptSink;
import io.jvmm.testkit.TestMachine;
import io.jvmm.testkit.driver.Guest;
import io.jvmm.testkit.driver.PageAllocator;
import io.jvmm.testkit.driver.blk.VirtioBlkDriver;
import io.jvmm.testkit.driver.pci.PciFunction;
import io.jvmm.testkit.driver.virtio.RingLayout;
import io.jvmm.testkit.driver.virtio.SplitQueue;
import io.jvmm.testkit.driver.virtio.VirtioPciDriver;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;

/**
 * A lean guest for the virtio-blk benchmarks, as Linux's virtio-blk drives the device: each of
 * {@code slots} requests has its pages (header, 4 KiB of data, status) and an indirect table
 * built once, and one ring descriptor pointing at that table; a read writes the sector into the
 * header, publishes the slot's head, kicks only if the device asked (EVENT_IDX), and collects used
 * entries after the queue's MSI-X interrupt. Nothing is allocated per request on this side, so a
 * JMH {@code -prof gc} figure is the machine's own. The virtio set-up (features, queue, MSI-X) is
 * the test kit's {@link VirtioBlkDriver}; after it this class owns the queue (it never calls the
 * kit's queue bookkeeping again).
 */
final class BlkBenchGuest implements AutoCloseable {
    static final int BLOCK = 4096;
    private static final int T_IN = 0;
    private static final int HEADER = 16;
    private static final int STATUS_OFFSET = 16;
    private static final int TABLE_OFFSET = 64;
    private static final int DESC_F_NEXT = 1;
    private static final int DESC_F_WRITE = 2;
    private static final int DESC_F_INDIRECT = 4;
    private static final Duration WAIT = Duration.ofSeconds(30);

    final Path dir;
    final Path image;
    final long imageBytes;
    final TestMachine machine;
    private final GuestMemory memory;
    private final RecordingInterruptSink interrupts;
    private final SplitQueue queue;
    private final RingLayout ring;
    private final MsiMessage message;
    private final long[] pages;
    private final long[] data;
    private final int[] completed;
    private int completedCount;
    private int lastUsed;
    private long sector;

    /** The -device suffix setting poll-max-ns, or none for a negative value (the device's default). */
    static String pollOption(long pollMaxNs) {
        return pollMaxNs < 0 ? "" : ",poll-max-ns=" + pollMaxNs;
    }

    /** A machine with one virtio-blk over a raw image of {@code imageBytes} of random data. */
    BlkBenchGuest(long imageBytes, int slots) throws IOException {
        this(imageBytes, slots, "");
    }

    /** As above, with {@code extraDeviceOptions} (",x-...=...") appended to the -device option. */
    BlkBenchGuest(long imageBytes, int slots, String extraDeviceOptions) throws IOException {
        this.imageBytes = imageBytes;
        dir = Files.createTempDirectory("jvmm-bench-blk");
        image = dir.resolve("disk.raw");
        fillRandom(image, imageBytes);
        machine = TestMachine.builder().memory("64M")
                .option("-drive", "file=" + image + ",format=raw,if=none,id=d0")
                .device("virtio-blk-pci,id=blk0,drive=d0,serial=bench" + extraDeviceOptions).build();
        memory = machine.memory();
        interrupts = machine.interrupts();
        Guest guest = Guest.of(machine);
        PciFunction fn = guest.enumerate().stream().filter(VirtioPciDriver::isVirtio).findFirst().orElseThrow();
        VirtioBlkDriver blk = new VirtioBlkDriver(VirtioPciDriver.probe(guest, fn)).initialize();
        queue = blk.queue();
        if (!queue.eventIdx() || !queue.indirectNegotiated()) {
            throw new IllegalStateException("the benchmark wants EVENT_IDX and indirect descriptors, the device did not offer them");
        }
        if (slots > queue.size()) {
            throw new IllegalArgumentException(slots + " slots do not fit a queue of " + queue.size());
        }
        ring = queue.layout();
        message = queue.message();
        PageAllocator allocator = guest.pages();
        pages = new long[slots];
        data = new long[slots];
        completed = new int[slots];
        for (int s = 0; s < slots; s++) {
            pages[s] = allocator.allocate(PageAllocator.PAGE);
            data[s] = allocator.allocate(BLOCK);
            long table = pages[s] + TABLE_OFFSET;
            descriptor(table, 0, pages[s], HEADER, DESC_F_NEXT, 1);
            descriptor(table, 1, data[s], BLOCK, DESC_F_WRITE | DESC_F_NEXT, 2);
            descriptor(table, 2, pages[s] + STATUS_OFFSET, 1, DESC_F_WRITE, 0);
            queue.rawDescriptor(s, table, 3 * 16, DESC_F_INDIRECT, 0);
            memory.write32(pages[s], T_IN);
            memory.write32(pages[s] + 4, 0);
        }
        lastUsed = memory.read16Acquire(ring.used() + 2);
        memory.write16(usedEvent(), lastUsed);
        verifyOneRead();
    }

    private static void fillRandom(Path image, long bytes) throws IOException {
        java.util.Random random = new java.util.Random(42);
        byte[] chunk = new byte[1 << 20];
        try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "rw")) {
            for (long done = 0; done < bytes; done += chunk.length) {
                random.nextBytes(chunk);
                f.write(chunk, 0, (int) Math.min(chunk.length, bytes - done));
            }
        }
    }

    private void descriptor(long table, int i, long address, int length, int flags, int next) {
        long d = table + 16L * i;
        memory.write64(d, address);
        memory.write32(d + 8, length);
        memory.write16(d + 12, flags);
        memory.write16(d + 14, next);
    }

    private long usedEvent() {
        return ring.avail() + 4 + 2L * ring.size();
    }

    /** The next sector of a fixed pseudo-random walk over the image, 4 KiB aligned. */
    long nextSector() {
        sector = (sector + 8 * 37) % (imageBytes / 512 - 8);
        return sector & ~7L;
    }

    /** Publishes a read of 4 KiB at {@code sectorNumber} into slot {@code slot}; does not kick. */
    void submit(int slot, long sectorNumber) {
        memory.write64(pages[slot] + 8, sectorNumber);
        memory.write8(pages[slot] + STATUS_OFFSET, 0xFF);
        queue.rawPublish(slot);
    }

    /** Notifies the device if it asked for it. */
    void kick() {
        queue.kick();
    }

    /** One read, waited for: what the 1-in-flight benchmark measures. */
    void readOne(int slot, long sectorNumber) {
        submit(slot, sectorNumber);
        kick();
        while (completedCount == 0) {
            awaitSome();
        }
        completedCount = 0;
    }

    /** Returns a slot whose read completed (waiting by interrupt if none has). */
    int takeCompleted() {
        while (completedCount == 0) {
            awaitSome();
        }
        return completed[--completedCount];
    }

    /** Collects used entries; waits for the queue's interrupt only when there are none. */
    private void awaitSome() {
        while (true) {
            long seen = interrupts.count(message);
            if (reap() > 0) {
                return;
            }
            if (!interrupts.awaitCount(message, seen + 1, WAIT)) {
                throw new IllegalStateException("no virtio-blk completion within " + WAIT.toSeconds() + " s: " + queue.describeState());
            }
        }
    }

    private int reap() {
        int n = 0;
        while (true) {
            int usedIdx = memory.read16Acquire(ring.used() + 2);
            while (lastUsed != usedIdx) {
                long elem = ring.used() + 4 + 8L * (lastUsed & (ring.size() - 1));
                int id = memory.read32(elem);
                int status = memory.read8(pages[id] + STATUS_OFFSET);
                if (status != 0) {
                    throw new IllegalStateException("virtio-blk read in slot " + id + " ended with status " + status);
                }
                completed[completedCount++] = id;
                lastUsed = (lastUsed + 1) & 0xFFFF;
                n++;
            }
            memory.write16(usedEvent(), lastUsed);   // interrupt me at the next entry
            GuestMemory.fullFence();
            if (memory.read16Acquire(ring.used() + 2) == lastUsed) {
                return n;
            }
        }
    }

    /** The data of one read must be the image's: the benchmark measures real reads. */
    private void verifyOneRead() throws IOException {
        long s = 8 * 1001 % (imageBytes / 512 - 8) & ~7L;
        readOne(0, s);
        ByteBuffer expected = ByteBuffer.allocate(BLOCK);
        try (FileChannel f = FileChannel.open(image, StandardOpenOption.READ)) {
            f.read(expected, s * 512);
        }
        byte[] got = new byte[BLOCK];
        memory.read(data[0], got, 0, BLOCK);
        if (!java.util.Arrays.equals(expected.array(), got)) {
            throw new IllegalStateException("the device returned other data than the image holds at sector " + s);
        }
    }

    @Override
    public void close() throws IOException {
        machine.close();
        Files.deleteIfExists(image);
        Files.deleteIfExists(dir);
    }
}
