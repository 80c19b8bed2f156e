package io.jvmm.emulator.vfiouser;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jvmm.chardev.Await;
import io.jvmm.chardev.EventFd;
import io.jvmm.devices.rng.RngDevice;
import io.jvmm.pci.msix.Msix;
import io.jvmm.pci.msix.GuestNotifiers;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.LongSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The guest notifiers of a served device: one stable eventfd per vector whose signals follow the
 * vector's state, whatever the client does with its own eventfds (replace, de-assign, mask).
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ServedGuestNotifiersTest {
    private static final int TRIGGER_EVENTFD = DeviceIrqs.DATA_EVENTFD | DeviceIrqs.ACTION_TRIGGER;

    @TempDir
    Path dir;
    private final AtomicReference<GuestNotifiers> given = new AtomicReference<>();
    private ServedDevice device;
    private VfioUserServer server;

    @BeforeEach
    void start() {
        device = ServedDevice.virtio(new RngDevice("rng0"));
        given.set(device.guestNotifiers());
        server = VfioUserServer.start(dir.resolve("rng.sock"), device);
    }

    @AfterEach
    void stop() {
        server.close();
        device.close();
    }

    @Test
    void oneStableEventFdPerVectorAndNoThreadUntilOneIsAskedFor() {
        ServedGuestNotifiers notifiers = (ServedGuestNotifiers) given.get();
        assertFalse(notifiers.started(), "a device whose notifiers nobody uses runs no interrupt context");
        Msix msix = device.msix();
        EventFd one = notifiers.notifier(msix, 1);
        assertTrue(notifiers.started());
        assertSame(one, notifiers.notifier(msix, 1), "the same fd every time for a vector");
        assertNotSame(one, notifiers.notifier(msix, 0));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> notifiers.notifier(msix, 2));
        assertTrue(e.getMessage().contains("rng0") && e.getMessage().contains("vector 2"), e.getMessage());
    }

    @Test
    void signalsFollowTheVectorThroughReplacedDeassignedAndMaskedClientEventFds() throws Exception {
        Msix msix = device.msix();
        EventFd notifier = given.get().notifier(msix, 1);
        long pba = device.pci().config().get32(msix.capabilityOffset() + 8) & ~7L;
        try (RawClient c = RawClient.negotiated(dir.resolve("rng.sock")); EventFd v0 = EventFd.create(); EventFd v1 = EventFd.create()) {
            assertFalse(c.setIrqs(TRIGGER_EVENTFD, DeviceIrqs.MSIX, 0, 2, null, v0.fd(), v1.fd()).isError());
            notifier.signal();
            awaitCount(v1::consume, "the client's eventfd of vector 1");
            assertEquals(0, v0.consume(), "vector 0 is not signalled");

            // The client replaces vector 1's eventfd: the notifier is unchanged, signals reach the new one.
            try (EventFd replaced = EventFd.create()) {
                assertFalse(c.setIrqs(TRIGGER_EVENTFD, DeviceIrqs.MSIX, 1, 1, null, replaced.fd()).isError());
                assertSame(notifier, given.get().notifier(msix, 1));
                notifier.signal();
                awaitCount(replaced::consume, "the replacing eventfd of vector 1");
                assertEquals(0, v1.consume(), "the replaced eventfd gets nothing");
            }

            // De-assigned: a signal becomes the pending bit the client reads, and a new eventfd receives it.
            assertFalse(c.setIrqs(TRIGGER_EVENTFD, DeviceIrqs.MSIX, 1, 1, null).isError());
            notifier.signal();
            awaitCount(() -> c.read(1, pba, 8), "the PBA bit of vector 1");
            assertEquals(0b10, c.read(1, pba, 8));
            try (EventFd again = EventFd.create()) {
                assertFalse(c.setIrqs(TRIGGER_EVENTFD, DeviceIrqs.MSIX, 1, 1, null, again.fd()).isError());
                assertEquals(1, again.consume(), "installing an eventfd delivers the pending interrupt");
                assertEquals(0, c.read(1, pba, 8));

                // Masked by the client (ACTION_MASK): pending again, delivered at unmask.
                assertFalse(c.setIrqs(DeviceIrqs.DATA_NONE | DeviceIrqs.ACTION_MASK, DeviceIrqs.MSIX, 1, 1, null).isError());
                notifier.signal();
                awaitCount(() -> c.read(1, pba, 8), "the PBA bit of vector 1 while masked");
                assertEquals(0, again.consume());
                assertFalse(c.setIrqs(DeviceIrqs.DATA_NONE | DeviceIrqs.ACTION_UNMASK, DeviceIrqs.MSIX, 1, 1, null).isError());
                assertEquals(1, again.consume(), "unmasking delivers it");
            }
        }
    }

    @Test
    void closedWithTheDevice() {
        GuestNotifiers notifiers = given.get();
        notifiers.notifier(device.msix(), 0);
        server.close();
        device.close();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> notifiers.notifier(device.msix(), 0));
        assertTrue(e.getMessage().contains("closed"), e.getMessage());
        assertFalse(((ServedGuestNotifiers) notifiers).started(), "the context is gone");
        start();   // for @AfterEach
    }

    /** Waits (bounded) until the supplier reports something: forwarding runs on the notifiers' context. */
    private static void awaitCount(LongSupplier value, String what) {
        Await.until(() -> value.getAsLong() != 0, "something to reach " + what);
    }
}
