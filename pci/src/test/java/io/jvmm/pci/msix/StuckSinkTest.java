package io.jvmm.pci.msix;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jvmm.pci.BarDefinition;
import io.jvmm.pci.TestDevice;
import io.jvmm.pci.dispatch.IoCompletion;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A mask waits for deliveries that began before it (so none lands after the guest's mask write),
 * but not for ever: a sink stuck in a delivery cannot hold the vCPU that masks the vector.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class StuckSinkTest {

    @Test
    void aMaskCompletesWithinItsBoundWhenTheSinkIsStuckInADelivery() throws Exception {
        CountDownLatch inDelivery = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        Msix msix = new Msix("stuck0", 1, message -> {
            inDelivery.countDown();
            try {
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        MsixBarHandler bar = new MsixBarHandler();
        bar.attach(msix);
        TestDevice dev = new TestDevice("stuck0").withBar(1, BarDefinition.mem32(MsixBarHandler.SIZE, bar));
        int cap = msix.install(dev, 1, MsixBarHandler.TABLE, 1, MsixBarHandler.PBA);
        IoCompletion.await(dev.configWrite(cap + 2, 2, Msix.CONTROL_ENABLE), Duration.ofSeconds(5), "enable");
        IoCompletion.await(bar.write(0, 4, 0xFEE0_0000L), Duration.ofSeconds(5), "address");
        IoCompletion.await(bar.write(12, 4, 0), Duration.ofSeconds(5), "unmask");

        Thread signaller = new Thread(() -> msix.signal(0), "stuck-delivery");
        signaller.start();
        try {
            assertTrue(inDelivery.await(30, TimeUnit.SECONDS), "the delivery reached the sink");
            long t0 = System.nanoTime();
            IoCompletion.await(bar.write(12, 4, 1), Duration.ofSeconds(30), "the mask");
            long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
            assertTrue(ms >= TimeUnit.NANOSECONDS.toMillis(VectorStates.DELIVERY_BOUND_NANOS) - 50,
                    "the mask waited for the delivery in progress, up to its bound (" + ms + " ms)");
            assertTrue(msix.isMasked(0), "and the vector is masked");
        } finally {
            release.countDown();
            signaller.join(30_000);
        }
        assertFalse(signaller.isAlive());
    }
}
