package io.jvmm.devices.rng;

import static org.junit.jupiter.api.Assertions.*;

import io.jvmm.testkit.TestMachine;
import io.jvmm.testkit.driver.Guest;
import io.jvmm.testkit.driver.rng.VirtioRngDriver;
import io.jvmm.testkit.driver.virtio.VirtioPciDriver;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** virtio-rng-pci built from options on the no-CPU machine: entropy in every buffer size, and its meters. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class RngDeviceTest {

    @Test
    void givesEntropyInAnyBufferSizeAndCountsIt() {
        try (TestMachine machine = TestMachine.builder().device("virtio-rng-pci,id=rng0").build()) {
            VirtioRngDriver rng = new VirtioRngDriver(VirtioPciDriver.probeFirst(Guest.of(machine), RngDevice.DEVICE_TYPE));
            rng.initialize();
            int total = 0;
            for (int n : new int[] {1, 7, 64, 4096, 10000}) {
                byte[] b = rng.read(n);
                assertEquals(n, b.length);
                total += n;
                if (n >= 64) {
                    assertFalse(allZero(b), n + " bytes are not all zero");
                }
            }
            assertTrue(machine.meters().get("jvmm.rng.requests").tags("device", "rng0").counter().count() >= 5);
            assertEquals(total, machine.meters().get("jvmm.rng.bytes").tags("device", "rng0").counter().count());
        }
    }

    private static boolean allZero(byte[] b) {
        for (byte x : b) {
            if (x != 0) {
                return false;
            }
        }
        return true;
    }
}
