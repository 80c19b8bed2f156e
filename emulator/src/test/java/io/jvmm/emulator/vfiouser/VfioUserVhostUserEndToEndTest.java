package io.jvmm.emulator.vfiouser;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import io.jvmm.chardev.Await;
import io.jvmm.chardev.EventFd;
import io.jvmm.chardev.SharedMemory;
import io.jvmm.chardev.SocketChardevSpec;
import io.jvmm.pci.ConfigRegisters;
import io.jvmm.pci.msix.Msix;
import io.jvmm.virtio.vhost.backend.BackendFaults;
import io.jvmm.virtio.vhost.backend.FillingDevice;
import io.jvmm.virtio.vhost.backend.VhostUserBackend;
import io.jvmm.virtio.vhost.frontend.VhostUserDevice;
import io.jvmm.virtio.vhost.frontend.VhostUserDeviceModel;
import io.jvmm.virtio.vhost.frontend.VhostUserDeviceOptions;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A vhost-user device served over vfio-user: a Java client plays QEMU (memfd RAM handed over with
 * DMA_MAP, an eventfd per vector) and drives the device, whose ring a Java vhost-user back-end
 * (the filling device) serves from the client's memory. The back-end's completions reach the
 * client's eventfd for the queue's vector through the served device's notifiers; when the client
 * replaces that eventfd the next completion follows it, and while the vector has none the
 * completion waits in the PBA and arrives with the next eventfd.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class VfioUserVhostUserEndToEndTest {
    private static final int BAR = 4;
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
    private static final int TRIGGER_EVENTFD = DeviceIrqs.DATA_EVENTFD | DeviceIrqs.ACTION_TRIGGER;
    private static final int QSIZE = 8;
    private static final int RAM = 1 << 20;
    private static final long DESC = 0x1000;
    private static final long AVAIL = 0x2000;
    private static final long USED = 0x3000;
    private static final long DATA = 0x4000;
    private static final int LENGTH = 256;

    @TempDir
    Path dir;

    @Test
    void backendCompletionsFollowTheClientsEventFdsAndWaitInThePbaWithoutOne() throws Exception {
        Path backendSocket = dir.resolve("vhost.sock");
        VhostUserDeviceModel model = new VhostUserDeviceModel(FillingDevice.DEVICE_TYPE, "vhost-user-fill", 0xff0000, 1, 256, 0,
                new byte[8], 0);
        try (VhostUserBackend backend = VhostUserBackend.startServer(backendSocket, "fill", FillingDevice.standard(), BackendFaults.NONE)) {
            ServedDevice device = ServedDevice.virtio(VhostUserDevice.realize(
                    VhostUserDeviceOptions.of("fill0", SocketChardevSpec.client("fill0-chr", backendSocket)), model));
            VfioUserServer server = VfioUserServer.start(dir.resolve("fill.sock"), device);
            Msix msix = device.msix();
            long pba = device.pci().config().get32(msix.capabilityOffset() + 8) & ~7L;
            try (RawClient c = RawClient.negotiated(dir.resolve("fill.sock"));
                 SharedMemory ram = SharedMemory.create("client-ram", RAM);
                 EventFd config = EventFd.create(); EventFd queue = EventFd.create()) {
                ByteBuffer mem = ram.window(0);
                assertFalse(c.dmaMap(0, RAM, 0, 3, ram.fd()).isError());
                assertFalse(c.setIrqs(TRIGGER_EVENTFD, DeviceIrqs.MSIX, 0, 2, null, config.fd(), queue.fd()).isError());
                startDevice(c);
                FillingDevice filler = (FillingDevice) backend.device();

                fill(c, mem, 0);
                awaitSignal(queue, "the client's queue eventfd");
                assertEquals(1, filler.served(), "the back-end served the request");
                assertPattern(mem);

                // The client replaces the queue vector's eventfd (as QEMU does when the guest re-programs it).
                try (EventFd replaced = EventFd.create()) {
                    assertFalse(c.setIrqs(TRIGGER_EVENTFD, DeviceIrqs.MSIX, 1, 1, null, replaced.fd()).isError());
                    fill(c, mem, 1);
                    awaitSignal(replaced, "the replacing eventfd");
                    assertEquals(0, queue.consume(), "the replaced eventfd gets nothing");
                }

                // Without an eventfd the completion is pending in the PBA; the next eventfd receives it.
                assertFalse(c.setIrqs(TRIGGER_EVENTFD, DeviceIrqs.MSIX, 1, 1, null).isError());
                fill(c, mem, 2);
                Await.until(() -> c.read(1, pba, 8) == 0b10, Await.HANG_GUARD,
                        () -> "the completion to set vector 1's pending bit; used idx " + usedIdx(mem) + ", served " + filler.served());
                assertEquals(3, usedIdx(mem));
                try (EventFd again = EventFd.create()) {
                    assertFalse(c.setIrqs(TRIGGER_EVENTFD, DeviceIrqs.MSIX, 1, 1, null, again.fd()).isError());
                    assertEquals(1, again.consume(), "the pending completion arrives with the new eventfd");
                    assertEquals(0, c.read(1, pba, 8));
                    fill(c, mem, 3);
                    awaitSignal(again, "the new eventfd, for the next completion");
                }
                assertEquals(4, filler.served());
            } finally {
                server.close();
                device.close();
            }
        }
    }

    /** The driver's initialisation: VERSION_1 only, config on vector 0, queue 0 on vector 1, DRIVER_OK. */
    private static void startDevice(RawClient c) {
        c.write(PciRegions.CONFIG, ConfigRegisters.COMMAND, 2, ConfigRegisters.COMMAND_MEMORY | ConfigRegisters.COMMAND_BUS_MASTER);
        c.write(BAR, DEVICE_STATUS, 1, 0);
        c.write(BAR, DEVICE_STATUS, 1, 1 | 2);
        c.write(BAR, DRIVER_FEATURE_SELECT, 4, 1);
        c.write(BAR, DRIVER_FEATURE, 4, 1);
        c.write(BAR, DEVICE_STATUS, 1, 1 | 2 | 8);
        assertEquals(1 | 2 | 8, c.read(BAR, DEVICE_STATUS, 1), "the device accepts the features");
        c.write(BAR, CONFIG_MSIX_VECTOR, 2, 0);
        c.write(BAR, QUEUE_SELECT, 2, 0);
        c.write(BAR, QUEUE_SIZE, 2, QSIZE);
        c.write(BAR, QUEUE_MSIX_VECTOR, 2, 1);
        c.write(BAR, QUEUE_DESC, 8, DESC);
        c.write(BAR, QUEUE_DRIVER, 8, AVAIL);
        c.write(BAR, QUEUE_DEVICE, 8, USED);
        c.write(BAR, QUEUE_ENABLE, 2, 1);
        c.write(BAR, DEVICE_STATUS, 1, 1 | 2 | 8 | 4);
        assertEquals(1 | 2 | 8 | 4, c.read(BAR, DEVICE_STATUS, 1), "DRIVER_OK, the back-end set up");
    }

    /** Offers one device-writable buffer as request {@code n} and notifies the queue. */
    private static void fill(RawClient c, ByteBuffer mem, int n) {
        for (int i = 0; i < LENGTH; i++) {
            mem.put((int) DATA + i, (byte) 0);
        }
        mem.putLong((int) DESC, DATA).putInt((int) DESC + 8, LENGTH).putShort((int) DESC + 12, (short) 2).putShort((int) DESC + 14, (short) 0);
        mem.putShort((int) AVAIL + 4 + 2 * (n % QSIZE), (short) 0);
        mem.putShort((int) AVAIL + 2, (short) (n + 1));
        c.write(BAR, NOTIFY, 2, 0);
    }

    private static int usedIdx(ByteBuffer mem) {
        return Short.toUnsignedInt(mem.getShort((int) USED + 2));
    }

    private static void assertPattern(ByteBuffer mem) {
        for (int i = 0; i < LENGTH; i++) {
            assertEquals(FillingDevice.pattern(i), mem.get((int) DATA + i), "byte " + i + " of the filled buffer");
        }
    }

    private static void awaitSignal(EventFd fd, String what) {
        Await.until(() -> fd.consume() > 0, "a completion to reach " + what);
    }
}
