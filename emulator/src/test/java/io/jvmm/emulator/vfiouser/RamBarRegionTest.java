package io.jvmm.emulator.vfiouser;

import static org.junit.jupiter.api.Assertions.*;

import io.jvmm.chardev.Fds;
import io.jvmm.chardev.SharedMemory;
import io.jvmm.testkit.testdev.TestPciDevice;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** A RAM BAR over vfio-user: its region info carries the memory's fd and a sparse mmap capability, and the mapping is the device's memory. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class RamBarRegionTest {
    @TempDir
    Path dir;
    private ServedDevice device;
    private VfioUserServer server;

    @BeforeEach
    void start() {
        device = ServedDevice.build("t0", s -> new TestPciDevice("t0", SharedMemory.create("t0-bar2", 1 << 16), true, 2, s), null);
        server = VfioUserServer.start(dir.resolve("t0.sock"), device);
    }

    @AfterEach
    void stop() {
        server.close();
        device.close();
    }

    @Test
    void theRegionInfoOffersTheMemoryForMmapAndTheMappingIsTheDevicesMemory() {
        try (RawClient c = RawClient.negotiated(dir.resolve("t0.sock"))) {
            RawClient.Reply small = c.regionInfo(TestPciDevice.RAM_BAR);
            assertFalse(small.isError());
            assertEquals(64, small.payload().getInt(0), "argsz: the size the reply needs with its capability");
            assertEquals(PciRegions.FLAG_READ | PciRegions.FLAG_WRITE | PciRegions.FLAG_MMAP, small.payload().getInt(4),
                    "no CAPS flag in a reply too small to hold the capability");
            assertEquals(1, small.fds().length, "the memory's fd comes with the reply");
            Fds.close(small.fds()[0]);

            RawClient.Reply full = c.request(VfioUserCommand.DEVICE_GET_REGION_INFO, RawClient.buf(64).putInt(64).putInt(0)
                    .putInt(TestPciDevice.RAM_BAR).putInt(0).putLong(0).putLong(0).flip());
            ByteBuffer p = full.payload();
            assertEquals(PciRegions.FLAG_READ | PciRegions.FLAG_WRITE | PciRegions.FLAG_MMAP | PciRegions.FLAG_CAPS, p.getInt(4));
            assertEquals(32, p.getInt(12), "the capability follows the region info");
            assertEquals(1 << 16, p.getLong(16), "the region's size");
            assertEquals(1, p.getShort(32), "VFIO_REGION_INFO_CAP_SPARSE_MMAP");
            assertEquals(1, p.getInt(40), "one area");
            assertEquals(0, p.getLong(48), "from offset 0");
            assertEquals(1 << 16, p.getLong(56), "over the whole BAR");
            assertEquals(1, full.fds().length);
            try (SharedMemory mapped = SharedMemory.map(full.fds()[0], p.getLong(24), 1 << 16, true)) {
                mapped.slice(0, 8).putLong(0, 0x1122334455667788L);
                TestPciDevice t0 = (TestPciDevice) device.pci();
                assertEquals(0x1122334455667788L, t0.ram().slice(0, 8).getLong(0), "the client's mapping is the device's memory");
            }
            assertEquals(0, device.regionAccesses(TestPciDevice.RAM_BAR));
            assertEquals(0x88L, c.read(TestPciDevice.RAM_BAR, 0, 1), "REGION_READ works on a RAM BAR too");
            assertEquals(1, device.regionAccesses(TestPciDevice.RAM_BAR), "and is counted");
        }
    }
}
