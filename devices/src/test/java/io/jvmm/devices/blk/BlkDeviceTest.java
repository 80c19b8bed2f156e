package io.jvmm.devices.blk;

import static org.junit.jupiter.api.Assertions.*;

import io.jvmm.testkit.TestMachine;
import io.jvmm.testkit.driver.Guest;
import io.jvmm.testkit.driver.blk.BlkResponse;
import io.jvmm.testkit.driver.blk.VirtioBlkDriver;
import io.jvmm.testkit.driver.virtio.VirtioPciDriver;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.RandomAccessFile;
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

    @Test
    void readsAndWritesAreTheImageFilesBytes() throws Exception {
        Path image = image(1 << 20, 1);
        byte[] before = Files.readAllBytes(image);
        try (TestMachine machine = TestMachine.builder()
                .option("-drive", "file=" + image + ",format=raw,if=none,id=d0")
                .device("virtio-blk-pci,id=blk0,drive=d0,serial=beside-the-code").build()) {
            VirtioBlkDriver blk = driver(machine);
            assertEquals((1 << 20) / SECTOR, blk.config().capacitySectors());
            assertEquals("beside-the-code", blk.id());
            BlkResponse r = blk.read(8, 4096);
            assertTrue(r.ok(), r.toString());
            assertArrayEquals(Arrays.copyOfRange(before, 8 * SECTOR, 8 * SECTOR + 4096), r.data());

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
        try (TestMachine machine = TestMachine.builder()
                .option("-drive", "file=" + image + ",format=raw,if=none,id=d0")
                .device("virtio-blk-pci,id=blk0,drive=d0").build()) {
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
}
