package io.jvmm.emulator.vfiouser;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jvmm.chardev.Await;
import io.jvmm.chardev.EventFd;
import io.jvmm.chardev.SharedMemory;
import io.jvmm.devices.blk.RawFileBackend;
import io.jvmm.devices.blk.BlkDevice;
import io.jvmm.devices.blk.BlkMetrics;
import io.jvmm.devices.blk.BlkOptions;
import io.jvmm.devices.blk.DriveOptions;
import io.jvmm.pci.ConfigRegisters;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A Java client plays QEMU: it hands the server its RAM as a memfd (DMA_MAP with the fd), gives
 * an eventfd per MSI-X vector, and drives virtio-blk through REGION_READ/WRITE of config space
 * and BAR4 with a split virtqueue in its own memory: a read returns the image's bytes, a write
 * reaches the image file, and each completion signals the queue's eventfd.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class VfioUserBlkEndToEndTest {
    private static final int BAR = 4;
    // virtio-pci common configuration (virtio 1.2, 4.1.4.3) in BAR4 at 0, notifications at 0x3000
    private static final int DRIVER_FEATURE_SELECT = 0x08;
    private static final int DRIVER_FEATURE = 0x0c;
    private static final int CONFIG_MSIX_VECTOR = 0x10;
    private static final int DEVICE_STATUS = 0x14;
    private static final int QUEUE_SELECT = 0x16;
    private static final int QUEUE_SIZE = 0x18;
    private static final int QUEUE_MSIX_VECTOR = 0x1a;
    private static final int QUEUE_ENABLE = 0x1c;
    private static final int QUEUE_DESC = 0x20;
    private static final int QUEUE_DRIVER = 0x28;
    private static final int QUEUE_DEVICE = 0x30;
    private static final int NOTIFY = 0x3000;
    private static final int QSIZE = 8;
    // the client's RAM layout
    private static final long DESC = 0x1000;
    private static final long AVAIL = 0x2000;
    private static final long USED = 0x3000;
    private static final long REQ = 0x4000;
    private static final long DATA = 0x5000;
    private static final long STATUS = 0x6000;

    @TempDir
    Path dir;

    @Test
    void aJavaClientReadsAndWritesTheDiskThroughVfioUser() throws Exception {
        Path image = dir.resolve("disk.img");
        byte[] content = new byte[1 << 20];
        new Random(5).nextBytes(content);
        Files.write(image, content);
        ServedDevice device = ServedDevice.virtio(new BlkDevice(new BlkOptions("blk0", DriveOptions.raw("d0", image, false), "e2e", 128), new RawFileBackend("blk0", image, false, 2), BlkMetrics.unregistered("blk0")));
        VfioUserServer server = VfioUserServer.start(dir.resolve("blk.sock"), device);
        try (RawClient c = RawClient.negotiated(dir.resolve("blk.sock"));
             SharedMemory ram = SharedMemory.create("client-ram", 1 << 20);
             EventFd config = EventFd.create(); EventFd queue = EventFd.create()) {
            ByteBuffer mem = ram.window(0);
            assertFalse(c.dmaMap(0, 1 << 20, 0, 3, ram.fd()).isError());
            assertFalse(c.setIrqs(DeviceIrqs.DATA_EVENTFD | DeviceIrqs.ACTION_TRIGGER, DeviceIrqs.MSIX, 0, 2, null,
                    config.fd(), queue.fd()).isError());
            c.write(PciRegions.CONFIG, ConfigRegisters.COMMAND, 2, ConfigRegisters.COMMAND_MEMORY | ConfigRegisters.COMMAND_BUS_MASTER);

            c.write(BAR, DEVICE_STATUS, 1, 0);
            c.write(BAR, DEVICE_STATUS, 1, 1 | 2);                  // ACKNOWLEDGE | DRIVER
            c.write(BAR, DRIVER_FEATURE_SELECT, 4, 1);
            c.write(BAR, DRIVER_FEATURE, 4, 1);                      // VIRTIO_F_VERSION_1 (bit 32) only
            c.write(BAR, DEVICE_STATUS, 1, 1 | 2 | 8);               // FEATURES_OK
            assertEquals(1 | 2 | 8, c.read(BAR, DEVICE_STATUS, 1), "the device accepts the features");
            c.write(BAR, CONFIG_MSIX_VECTOR, 2, 0);
            c.write(BAR, QUEUE_SELECT, 2, 0);
            c.write(BAR, QUEUE_SIZE, 2, QSIZE);
            c.write(BAR, QUEUE_MSIX_VECTOR, 2, 1);
            assertEquals(1, c.read(BAR, QUEUE_MSIX_VECTOR, 2));
            c.write(BAR, QUEUE_DESC, 8, DESC);
            c.write(BAR, QUEUE_DRIVER, 8, AVAIL);
            c.write(BAR, QUEUE_DEVICE, 8, USED);
            c.write(BAR, QUEUE_ENABLE, 2, 1);
            c.write(BAR, DEVICE_STATUS, 1, 1 | 2 | 8 | 4);           // DRIVER_OK

            // Read 4 KiB at sector 16.
            request(c, mem, queue, 0, 0, 16, 4096);
            assertEquals(0, mem.get((int) STATUS), "read status");
            byte[] got = new byte[4096];
            mem.get((int) DATA, got);
            byte[] want = new byte[4096];
            System.arraycopy(content, 16 * 512, want, 0, 4096);
            assertArrayEquals(want, got, "the disk's bytes arrive in the client's memory");

            // Write 512 bytes at sector 3.
            byte[] written = new byte[512];
            new Random(9).nextBytes(written);
            mem.put((int) DATA, written);
            request(c, mem, queue, 1, 1, 3, 512);
            assertEquals(0, mem.get((int) STATUS), "write status");
            byte[] onDisk = new byte[512];
            System.arraycopy(Files.readAllBytes(image), 3 * 512, onDisk, 0, 512);
            assertArrayEquals(written, onDisk, "the client's bytes reach the image file");
            assertTrue(device.interruptsDelivered() >= 2);
        } finally {
            server.close();
            device.close();
        }
    }

    /** One request (type 0 read, 1 write) as descriptors 0-2 in avail slot {@code n}; waits for its interrupt. */
    private static void request(RawClient c, ByteBuffer mem, EventFd queue, int n, int type, long sector, int length) {
        mem.putInt((int) REQ, type).putInt((int) REQ + 4, 0).putLong((int) REQ + 8, sector);
        mem.put((int) STATUS, (byte) 0xff);
        descriptor(mem, 0, REQ, 16, 1, 1);
        descriptor(mem, 1, DATA, length, type == 0 ? 1 | 2 : 1, 2);   // NEXT, + WRITE for a read
        descriptor(mem, 2, STATUS, 1, 2, 0);
        mem.putShort((int) AVAIL + 4 + 2 * (n % QSIZE), (short) 0);
        mem.putShort((int) AVAIL + 2, (short) (n + 1));            // avail idx (x86 stores are ordered)
        c.write(BAR, NOTIFY, 2, 0);
        Await.until(() -> queue.consume() > 0, "the interrupt for request " + n);
        assertEquals(n + 1, Short.toUnsignedInt(mem.getShort((int) USED + 2)), "used idx");
        assertEquals(0, mem.getInt((int) USED + 4 + 8 * (n % QSIZE)), "used id is the head");
    }

    private static void descriptor(ByteBuffer mem, int i, long address, int length, int flags, int next) {
        int at = (int) DESC + 16 * i;
        mem.putLong(at, address).putInt(at + 8, length).putShort(at + 12, (short) flags).putShort(at + 14, (short) next);
    }
}
