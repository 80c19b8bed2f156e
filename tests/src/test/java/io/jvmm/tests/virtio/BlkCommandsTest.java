package io.jvmm.tests.virtio;

import io.jvmm.testkit.driver.blk.BlkConfig;
import io.jvmm.testkit.driver.blk.BlkProtocol;
import io.jvmm.testkit.driver.blk.BlkResponse;
import io.jvmm.testkit.driver.blk.VirtioBlkDriver;
import io.jvmm.testkit.driver.virtio.VirtioFeatureBits;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import static io.jvmm.testkit.driver.blk.BlkProtocol.SECTOR;
import static org.junit.jupiter.api.Assertions.*;

/** virtio-blk's configuration and every request type, checked against the image file. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class BlkCommandsTest {
    private static final long IMAGE = 8L << 20;

    @TempDir
    Path dir;

    @Test
    void configurationSpaceDescribesTheDrive() {
        try (VirtioTestBed bed = VirtioTestBed.create(dir, VirtioTestBed.Options.defaults().imageBytes(IMAGE).queueSize(64)).initialized()) {
            BlkConfig config = bed.blk.config();
            assertEquals(IMAGE / SECTOR, config.capacitySectors());
            assertEquals(64 - 2, config.segMax(), "seg_max leaves room for header and status");
            assertEquals(1 << 20, config.sizeMax());
            assertEquals(SECTOR, config.blkSize());
            assertTrue(config.maxDiscardSectors() > 0 && config.maxDiscardSeg() >= 1);
            assertTrue(config.maxWriteZeroesSectors() > 0 && config.maxWriteZeroesSeg() >= 1);
            assertEquals(64, bed.blk.queue().size());
            // Read again byte by byte: the generation-checked snapshot agrees with single reads.
            assertEquals(IMAGE / SECTOR, bed.blk.device().readConfig32(0) & 0xFFFF_FFFFL);
            assertEquals(0, bed.blk.device().readConfig32(4));
            assertThrows(IllegalArgumentException.class, () -> bed.blk.device().readConfig32(60),
                    "reading past the configuration is refused by the driver, naming the offset");
        }
    }

    @Test
    void getIdReturnsTheSerial() {
        try (VirtioTestBed bed = VirtioTestBed.create(dir).initialized()) {
            assertEquals(VirtioTestBed.SERIAL, bed.blk.id());
            BlkResponse raw = bed.blk.await(bed.blk.submitGetId());
            assertEquals(BlkProtocol.ID_BYTES, raw.data().length);
            assertEquals(0, raw.data()[VirtioTestBed.SERIAL.length()], "a short serial is NUL-terminated");
        }
    }

    @Test
    void flushSucceeds() {
        try (VirtioTestBed bed = VirtioTestBed.create(dir).initialized()) {
            assertTrue(VirtioFeatureBits.has(bed.blk.device().negotiatedFeatures(), BlkProtocol.F_FLUSH));
            byte[] data = pattern(4096, 1);
            assertTrue(bed.blk.write(10, data).ok());
            BlkResponse flush = bed.blk.flush();
            assertTrue(flush.ok(), flush::toString);
            assertEquals(1, flush.usedLength(), "a flush writes only its status byte");
        }
    }

    @Test
    void writeZeroesZeroesExactlyTheRange() throws IOException {
        try (VirtioTestBed bed = VirtioTestBed.create(dir, VirtioTestBed.Options.defaults().imageBytes(IMAGE)).initialized()) {
            byte[] data = pattern(64 * 1024, 2);
            assertTrue(bed.blk.write(100, data).ok());
            BlkResponse r = bed.blk.await(bed.blk.submitWriteZeroes(104, 8, false));
            assertTrue(r.ok(), r::toString);
            byte[] expected = data.clone();
            Arrays.fill(expected, 4 * SECTOR, 12 * SECTOR, (byte) 0);
            assertArrayEquals(expected, readFile(bed.image, 100L * SECTOR, data.length));
            assertArrayEquals(expected, bed.blk.read(100, data.length).data());
            // With unmap allowed the result must read as zeroes just the same.
            assertTrue(bed.blk.await(bed.blk.submitWriteZeroes(100, 2, true)).ok());
            Arrays.fill(expected, 0, 2 * SECTOR, (byte) 0);
            assertArrayEquals(expected, bed.blk.read(100, data.length).data());
        }
    }

    @Test
    void discardSucceedsAndLeavesTheRestAlone() throws IOException {
        try (VirtioTestBed bed = VirtioTestBed.create(dir, VirtioTestBed.Options.defaults().imageBytes(IMAGE)).initialized()) {
            byte[] data = pattern(32 * 1024, 3);
            assertTrue(bed.blk.write(200, data).ok());
            BlkResponse r = bed.blk.await(bed.blk.submitDiscard(208, 16, 0));
            assertTrue(r.ok(), r::toString);
            byte[] file = readFile(bed.image, 200L * SECTOR, data.length);
            assertArrayEquals(Arrays.copyOfRange(data, 0, 8 * SECTOR), Arrays.copyOfRange(file, 0, 8 * SECTOR), "before the range");
            assertArrayEquals(Arrays.copyOfRange(data, 24 * SECTOR, data.length), Arrays.copyOfRange(file, 24 * SECTOR, data.length), "after it");

            BlkResponse unmap = bed.blk.await(bed.blk.submitDiscard(208, 1, BlkProtocol.RANGE_F_UNMAP));
            assertEquals(BlkProtocol.S_UNSUPP, unmap.status(), "the unmap flag is not allowed on DISCARD");
            BlkResponse beyond = bed.blk.await(bed.blk.submitDiscard(IMAGE / SECTOR - 1, 2, 0));
            assertEquals(BlkProtocol.S_IOERR, beyond.status(), "a range past the capacity");
        }
    }

    @Test
    void requestsBeyondTheCapacityFail() throws IOException {
        try (VirtioTestBed bed = VirtioTestBed.create(dir, VirtioTestBed.Options.defaults().imageBytes(IMAGE)).initialized()) {
            long last = IMAGE / SECTOR - 1;
            assertTrue(bed.blk.write(last, pattern(SECTOR, 4)).ok(), "the last sector is writable");
            assertEquals(BlkProtocol.S_IOERR, bed.blk.write(last, pattern(2 * SECTOR, 5)).status());
            assertEquals(BlkProtocol.S_IOERR, bed.blk.read(last + 1, SECTOR).status());
            assertEquals(IMAGE, Files.size(bed.image), "the image did not grow");
        }
    }

    @Test
    void readOnlyDriveRefusesWritesAndChangesNothing() throws IOException {
        Path image = dir.resolve("disk.raw");
        byte[] original = pattern((int) IMAGE, 6);
        // The bed creates a sparse image; fill it first through a writable bed so the content is known.
        try (VirtioTestBed bed = VirtioTestBed.create(dir, VirtioTestBed.Options.defaults().imageBytes(IMAGE)).initialized()) {
            for (int off = 0; off < original.length; off += 1 << 20) {
                assertTrue(bed.blk.write(off / SECTOR, Arrays.copyOfRange(original, off, off + (1 << 20))).ok());
            }
        }
        try (VirtioTestBed bed = VirtioTestBed.createOver(dir, VirtioTestBed.Options.defaults().imageBytes(IMAGE).readOnly(true)).initialized()) {
            VirtioBlkDriver blk = bed.blk;
            assertTrue(VirtioFeatureBits.has(blk.device().deviceFeatures(), BlkProtocol.F_RO), "a read-only drive offers RO");
            assertTrue(blk.readOnly());
            assertEquals(BlkProtocol.S_IOERR, blk.write(0, pattern(8192, 7)).status());
            assertEquals(BlkProtocol.S_IOERR, blk.write(IMAGE / SECTOR - 16, pattern(8192, 8)).status());
            assertEquals(BlkProtocol.S_IOERR, blk.await(blk.submitWriteZeroes(0, 8, false)).status());
            assertEquals(BlkProtocol.S_IOERR, blk.await(blk.submitDiscard(0, 8, 0)).status());
            BlkResponse read = blk.read(0, 8192);
            assertTrue(read.ok());
            assertArrayEquals(Arrays.copyOf(original, 8192), read.data());
            assertTrue(blk.flush().ok(), "flushing a read-only drive is harmless");
        }
        assertArrayEquals(original, Files.readAllBytes(image), "nothing was written to the read-only image");
    }

    static byte[] pattern(int length, long seed) {
        byte[] b = new byte[length];
        new Random(seed).nextBytes(b);
        return b;
    }

    static byte[] readFile(Path image, long offset, int length) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "r")) {
            byte[] b = new byte[length];
            f.seek(offset);
            f.readFully(b);
            return b;
        }
    }
}
