package io.jvmm.devices;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jvmm.testkit.driver.blk.VirtioBlkDriver;
import io.jvmm.testkit.driver.rng.VirtioRngDriver;
import io.jvmm.testkit.junit.DeviceId;
import io.jvmm.testkit.junit.JvmmFixture;
import io.jvmm.testkit.junit.JvmmMachine;
import java.io.RandomAccessFile;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The test kit's JUnit extension with the real devices: ready virtio-blk and virtio-rng drivers
 * injected, by type or by id, on images the machine's placeholders made.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
@JvmmMachine(options = {
        "-drive", "file={image:disk.img:1M},format=raw,if=none,id=d0", "-device", "virtio-blk-pci,id=blk0,drive=d0",
        "-drive", "file={image:small.img:64K},format=raw,if=none,id=d1", "-device", "virtio-blk-pci,id=blk1,drive=d1",
        "-device", "virtio-rng-pci,id=rng0"})
class DriversFromTheExtensionTest {

    @Test
    void blkAndRngDriversAreReadyByTypeAndById(VirtioBlkDriver first, @DeviceId("blk0") VirtioBlkDriver firstById,
                                               @DeviceId("blk1") VirtioBlkDriver second, VirtioRngDriver rng,
                                               JvmmFixture jvmm) throws Exception {
        assertSame(first, firstById, "the first virtio-blk is blk0, and one driver per device");
        assertNotSame(first, second);
        assertEquals(2048, first.config().capacitySectors());
        assertEquals(128, second.config().capacitySectors());

        byte[] data = new byte[4096];
        new Random(7).nextBytes(data);
        assertTrue(second.write(8, data).ok());
        assertTrue(second.flush().ok());
        byte[] onDisk = new byte[4096];
        try (RandomAccessFile f = new RandomAccessFile(jvmm.workDir().resolve("small.img").toFile(), "r")) {
            f.seek(8 * 512);
            f.readFully(onDisk);
        }
        assertArrayEquals(data, onDisk, "the write reached blk1's image");
        assertEquals(32, rng.read(32).length);
    }
}
