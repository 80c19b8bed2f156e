package io.jvmm.testkit.testdev;

import static org.junit.jupiter.api.Assertions.*;

import io.jvmm.pci.msix.MsiMessage;
import io.jvmm.platform.options.UserError;
import io.jvmm.testkit.TestMachine;
import io.jvmm.testkit.driver.Guest;
import io.jvmm.testkit.driver.pci.Bar;
import io.jvmm.testkit.driver.pci.MsixDriver;
import io.jvmm.testkit.driver.pci.PciFunction;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The test kit's non-virtio device on the no-CPU machine, built from QEMU-style options and driven by the guest driver. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class TestPciDeviceTest {
    private static final Duration WAIT = Duration.ofSeconds(20);

    private record Probed(Guest guest, PciFunction fn, Bar regs, Bar ram, TestPciDevice device) {
    }

    private static Probed probe(TestMachine machine) {
        Guest guest = Guest.of(machine);
        PciFunction fn = guest.enumerate().stream()
                .filter(f -> f.vendorId() == TestPciDevice.VENDOR_ID && f.deviceId() == TestPciDevice.DEVICE_ID)
                .findFirst().orElseThrow(() -> new AssertionError("no jvmm-testdev on the bus"));
        List<Bar> bars = guest.bars().assign(fn);
        TestPciDevice device = (TestPciDevice) machine.pciDevice("t0");
        return new Probed(guest, fn, bars.get(TestPciDevice.REGISTER_BAR), bars.get(TestPciDevice.RAM_BAR), device);
    }

    @Test
    void bytesThroughTheRamBarAreTheHostsSharedMemoryAndTheReverse() {
        try (TestMachine machine = TestMachine.builder().device("jvmm-testdev,id=t0,size=64K").build()) {
            Probed p = probe(machine);
            assertEquals(64 * 1024, p.ram().size());
            assertTrue(p.ram().prefetchable());
            assertEquals(TestPciDevice.MAGIC, p.guest().cpu().readMmio(p.regs().address() + TestPciDevice.REG_MAGIC, 4));
            assertEquals(64 * 1024, p.guest().cpu().readMmio(p.regs().address() + TestPciDevice.REG_RAM_SIZE, 4));

            long bar2 = p.ram().address();
            for (int i = 0; i < 64; i++) {
                p.guest().cpu().writeMmio(bar2 + 1024L * i, 8, 0x0102_0304_0506_0700L + i);
            }
            ByteBuffer host = p.device().ram().slice(0, 64 * 1024);
            for (int i = 0; i < 64; i++) {
                assertEquals(0x0102_0304_0506_0700L + i, host.getLong(1024 * i), "guest write " + i + " seen by the host");
            }
            host.putInt(0xfff0, 0x600DF00D);
            assertEquals(0x600DF00DL, p.guest().cpu().readMmio(bar2 + 0xfff0, 4), "host write seen by the guest");
        }
    }

    @Test
    void aDoorbellWriteReachesItsEventFdAndAHostSignalRaisesTheVector() throws Exception {
        try (TestMachine machine = TestMachine.builder().device("jvmm-testdev,id=t0,vectors=2").build()) {
            Probed p = probe(machine);
            long doorbell = p.regs().address() + TestPciDevice.REG_DOORBELL;
            for (int i = 0; i < 5; i++) {
                p.guest().cpu().writeMmio(doorbell, 4, i);
            }
            assertTrue(p.device().awaitDoorbells(5, WAIT), "five doorbells reached the device's eventfd");
            assertEquals(5, p.guest().cpu().readMmio(p.regs().address() + TestPciDevice.REG_DOORBELLS, 4));

            MsixDriver msix = new MsixDriver(p.guest().cpu(), p.fn());
            assertEquals(2, msix.vectorCount());
            MsiMessage m0 = p.guest().interrupts().allocateMessage();
            MsiMessage m1 = p.guest().interrupts().allocateMessage();
            msix.enable(List.of(m0, m1));
            p.device().raise(1);
            assertTrue(p.guest().interrupts().awaitMoreThan(m1, 0, WAIT), "vector 1 arrived");
            assertEquals(0, p.guest().interrupts().count(m0), "and only vector 1");

            msix.mask(1);
            p.device().raise(1);
            long deadline = System.nanoTime() + WAIT.toNanos();
            while (!msix.isPending(1) && System.nanoTime() < deadline) {
                Thread.onSpinWait();
            }
            assertTrue(msix.isPending(1), "a signal while masked sets the pending bit");
            assertEquals(1, p.guest().interrupts().count(m1));
            msix.unmask(1);
            assertTrue(p.guest().interrupts().awaitMoreThan(m1, 1, WAIT), "delivered on unmask");
        }
    }

    @Test
    void aMemoryBackendCanBeBar2(@TempDir Path dir) {
        Path file = dir.resolve("shm");
        try (TestMachine machine = TestMachine.builder()
                .option("-object", "memory-backend-file,id=m0,size=16K,share=on,mem-path=" + file)
                .device("jvmm-testdev,id=t0,memdev=m0").build()) {
            Probed p = probe(machine);
            assertEquals(16 * 1024, p.ram().size());
            p.guest().cpu().writeMmio(p.ram().address() + 100, 4, 0x12345678);
            assertEquals(0x12345678, p.device().ram().slice(0, 4096).getInt(100));
        }
        UserError e = assertThrows(UserError.class, () -> TestMachine.builder().device("jvmm-testdev,size=12K").build());
        assertTrue(e.getMessage().contains("power of two"), e.getMessage());
    }
}
