package io.jvmm.emulator.vfiouser;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.jvmm.chardev.Await;
import io.jvmm.chardev.EventFd;
import io.jvmm.chardev.OpenFiles;
import io.jvmm.chardev.SharedMemory;
import io.jvmm.devices.rng.RngDevice;
import io.jvmm.pci.ConfigRegisters;
import io.jvmm.pci.msix.Msix;
import io.jvmm.pci.msix.SignalResult;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import jnr.constants.platform.Errno;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** What a well-behaved client sees: device description, interrupts and their PBA, memory, reconnects. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class VfioUserDeviceTest {
    private static final int TRIGGER_EVENTFD = DeviceIrqs.DATA_EVENTFD | DeviceIrqs.ACTION_TRIGGER;

    @TempDir
    Path dir;
    private ServedDevice device;
    private VfioUserServer server;
    private Path socket;

    @BeforeEach
    void start() {
        startServer(VfioUserServer.Options.defaults());
    }

    private void startServer(VfioUserServer.Options options) {
        socket = dir.resolve("rng.sock");
        device = ServedDevice.virtio(new RngDevice("rng0"));
        server = VfioUserServer.start(socket, device, options);
    }

    @AfterEach
    void stop() {
        server.close();
        device.close();
    }

    @Test
    void describesThePciDevice() {
        try (RawClient c = RawClient.negotiated(socket)) {
            RawClient.Reply info = c.request(VfioUserCommand.DEVICE_GET_INFO, RawClient.buf(16).putInt(16).flip());
            assertEquals(16, info.payload().getInt(0));
            assertEquals(3, info.payload().getInt(4), "RESET | PCI");
            assertEquals(9, info.payload().getInt(8), "regions");
            assertEquals(5, info.payload().getInt(12), "irq types");

            assertEquals(256, c.regionInfo(PciRegions.CONFIG).payload().getLong(16));
            assertEquals(3, c.regionInfo(PciRegions.CONFIG).payload().getInt(4), "config is read/write");
            assertEquals(device.pci().bar(4).orElseThrow().size(), c.regionInfo(4).payload().getLong(16));
            assertEquals(0, c.regionInfo(0).payload().getLong(16), "BAR0 is not implemented");
            assertEquals(0, c.regionInfo(5).payload().getLong(16), "BAR5 is the upper half of the 64-bit BAR4");
            assertEquals(0, c.regionInfo(PciRegions.ROM).payload().getLong(16));
            assertEquals(0, c.regionInfo(PciRegions.VGA).payload().getLong(16));

            assertEquals(2, c.irqInfo(DeviceIrqs.MSIX).payload().getInt(12), "one queue + config vector");
            assertEquals(1, c.irqInfo(DeviceIrqs.INTX).payload().getInt(12));
            assertEquals(0, c.irqInfo(DeviceIrqs.MSI).payload().getInt(12));

            assertEquals(0x1af4, c.read(PciRegions.CONFIG, ConfigRegisters.VENDOR_ID, 2));
            assertEquals(0x1044, c.read(PciRegions.CONFIG, ConfigRegisters.DEVICE_ID, 2));
            RawClient.Reply whole = c.regionRead(PciRegions.CONFIG, 0, 256);   // as QEMU reads it at realize
            assertEquals(256, whole.payload().getInt(12));
            assertEquals(0x1af4, whole.payload().getShort(16) & 0xffff);
        }
    }

    @Test
    void msixVectorsSignalTheClientsEventfdsAndKeepThePbaWhileUnassigned() {
        Msix msix = device.msix();
        long pba = device.pci().config().get32(msix.capabilityOffset() + 8) & ~7L;
        try (RawClient c = RawClient.negotiated(socket); EventFd v0 = EventFd.create(); EventFd v1 = EventFd.create()) {
            assertFalse(c.setIrqs(TRIGGER_EVENTFD, DeviceIrqs.MSIX, 0, 2, null, v0.fd(), v1.fd()).isError());
            assertTrue(msix.isEnabled(), "SET_IRQS enables the device's MSI-X");
            assertEquals(SignalResult.DELIVERED, msix.signal(1));
            assertEquals(1, v1.consume());
            assertEquals(0, v0.consume());

            // De-assign vector 1: a signal now is pending in the PBA the client reads, not lost.
            assertFalse(c.setIrqs(TRIGGER_EVENTFD, DeviceIrqs.MSIX, 1, 1, null).isError());
            assertEquals(SignalResult.PENDING, msix.signal(1));
            assertEquals(0b10, c.read(1, pba, 8), "PBA bit of vector 1");
            assertEquals(0, v1.consume());

            // A new eventfd for vector 1 receives the pending interrupt, and the PBA bit clears.
            try (EventFd again = EventFd.create()) {
                assertFalse(c.setIrqs(TRIGGER_EVENTFD, DeviceIrqs.MSIX, 1, 1, null, again.fd()).isError());
                assertEquals(1, again.consume());
                assertEquals(0, c.read(1, pba, 8));
            }

            // The client masks vector 0 (DATA_BOOL selects it), a signal pends, unmask delivers it.
            assertFalse(c.setIrqs(DeviceIrqs.DATA_BOOL | DeviceIrqs.ACTION_MASK, DeviceIrqs.MSIX, 0, 2, new byte[] {1, 0}).isError());
            assertEquals(SignalResult.PENDING, msix.signal(0));
            assertEquals(SignalResult.DELIVERED, msix.signal(1), "vector 1 was not selected by the bool array");
            assertEquals(0b01, c.read(1, pba, 8));
            assertFalse(c.setIrqs(DeviceIrqs.DATA_NONE | DeviceIrqs.ACTION_UNMASK, DeviceIrqs.MSIX, 0, 1, null).isError());
            assertEquals(1, v0.consume());

            // The client triggers vector 0 itself.
            assertFalse(c.setIrqs(DeviceIrqs.DATA_NONE | DeviceIrqs.ACTION_TRIGGER, DeviceIrqs.MSIX, 0, 1, null).isError());
            assertEquals(1, v0.consume());

            // Disable the whole index: MSI-X off, signals dropped.
            assertFalse(c.setIrqs(DeviceIrqs.DATA_NONE | DeviceIrqs.ACTION_TRIGGER, DeviceIrqs.MSIX, 0, 0, null).isError());
            assertFalse(msix.isEnabled());
            assertEquals(SignalResult.DROPPED, msix.signal(0));
        }
    }

    @Test
    void guestWritesToMsixControlAndTableAreTheClientsBusiness() {
        Msix msix = device.msix();
        int cap = msix.capabilityOffset();
        try (RawClient c = RawClient.negotiated(socket)) {
            c.write(PciRegions.CONFIG, cap + 2, 2, Msix.CONTROL_ENABLE);
            assertFalse(msix.isEnabled(), "the client enables MSI-X with SET_IRQS, not with config writes");
            c.write(PciRegions.CONFIG, cap, 4, 0xffff0000L);   // a dword write over the control word
            assertFalse(msix.isEnabled());
            c.write(1, 12, 4, 0);   // vector 0 control in the table: the client emulates the table
            assertTrue(msix.isVectorMaskBitSet(0));
            c.write(PciRegions.CONFIG, ConfigRegisters.INTERRUPT_LINE, 1, 0x0b);   // other config bytes are written
            assertEquals(0x0b, c.read(PciRegions.CONFIG, ConfigRegisters.INTERRUPT_LINE, 1));
        }
    }

    @Test
    void setIrqsMayComeInChunksOfMaxMsgFds() {
        server.close();
        device.close();
        startServer(VfioUserServer.Options.defaults().withMaxMsgFds(1));
        try (RawClient c = RawClient.connect(socket); EventFd v0 = EventFd.create(); EventFd v1 = EventFd.create()) {
            RawClient.Reply version = c.version(RawClient.CAPS);
            assertTrue(new String(version.payload().array(), 4, version.payload().limit() - 5).contains("\"max_msg_fds\":1"));
            assertEquals(Errno.EINVAL.intValue(), c.setIrqs(TRIGGER_EVENTFD, DeviceIrqs.MSIX, 0, 2, null, v0.fd(), v1.fd()).errno(),
                    "two fds are more than max_msg_fds");
            assertFalse(c.setIrqs(TRIGGER_EVENTFD, DeviceIrqs.MSIX, 0, 1, null, v0.fd()).isError());
            assertFalse(c.setIrqs(TRIGGER_EVENTFD, DeviceIrqs.MSIX, 1, 1, null, v1.fd()).isError());
            device.msix().signal(0);
            device.msix().signal(1);
            assertEquals(1, v0.consume());
            assertEquals(1, v1.consume());
        }
    }

    @Test
    void dmaMapsWithFdsBecomeGuestMemoryAndOverlapsAreRefused() {
        try (RawClient c = RawClient.negotiated(socket); SharedMemory ram = SharedMemory.create("client-ram", 1 << 20)) {
            ram.window(0).putLong(0x2000, 0x1122334455667788L);
            assertFalse(c.dmaMap(0x10000, 0x40000, 0, 3, ram.fd()).isError());
            assertFalse(c.dmaMap(0x100000, 0x20000, 0x40000, 3, ram.fd()).isError());
            assertEquals(0x1122334455667788L, device.memory().read64(0x12000), "the device sees the client's memory");
            device.memory().write32(0x100010, 0xcafe);
            assertEquals(0xcafe, ram.window(0).getInt(0x40010), "and writes into it");

            assertEquals(Errno.EEXIST.intValue(), c.dmaMap(0x40000, 0x10000, 0, 3, ram.fd()).errno());
            assertEquals(Errno.EEXIST.intValue(), c.dmaMap(0x8000, 0x10000, 0, 3).errno(), "also without an fd");
            assertEquals(Errno.EINVAL.intValue(), c.dmaMap(0x200800, 0x1000, 0, 3).errno(), "unaligned");
            assertEquals(Errno.ENOENT.intValue(), c.dmaUnmap(0x10000, 0x1000, 0).errno(), "must match a mapping exactly");

            RawClient.Reply unmap = c.dmaUnmap(0x10000, 0x40000, 0);
            assertFalse(unmap.isError());
            assertEquals(0x10000, unmap.payload().getLong(8), "the reply echoes the entry");
            assertFalse(device.memory().isValid(0x12000, 8));
            assertFalse(c.dmaUnmap(0, 0, 2).isError(), "unmap all");
            assertTrue(device.memory().regions().isEmpty());
        }
    }

    @Test
    void memoryWithoutAnFdIsReachedWithDmaReadAndWrite() throws Exception {
        ExecutorService devices = Executors.newSingleThreadExecutor();
        try (RawClient c = RawClient.negotiated(socket)) {
            assertFalse(c.dmaMap(0x40000, 0x1000, 0, 3).isError());
            ClientDma dma = server.clientDma().orElseThrow();
            byte[] got = new byte[5];
            Future<?> read = devices.submit(() -> dma.read(0x40010, got));
            RawClient.Reply request = c.receive();
            assertEquals(VfioUserCommand.DMA_READ.code(), request.header().command());
            assertFalse(request.header().isReply());
            assertEquals(0x40010, request.payload().getLong(0));
            assertEquals(5, request.payload().getLong(8));
            ByteBuffer answer = RawClient.buf(21).putLong(0x40010).putLong(5).put(new byte[] {1, 2, 3, 4, 5}).flip();
            byte[] body = new byte[21];
            answer.get(body);
            c.sendRaw(request.header().id(), request.header().command(), VfioUserHeader.SIZE + 21, VfioUserHeader.TYPE_REPLY, body);
            read.get(10, TimeUnit.SECONDS);
            assertArrayEquals(new byte[] {1, 2, 3, 4, 5}, got);

            Future<?> write = devices.submit(() -> dma.write(0x40ffe, new byte[] {9, 8}));
            RawClient.Reply w = c.receive();
            assertEquals(VfioUserCommand.DMA_WRITE.code(), w.header().command());
            assertEquals(0x40ffe, w.payload().getLong(0));
            assertEquals(9, w.payload().get(16));
            assertEquals(8, w.payload().get(17));
            c.sendRaw(w.header().id(), w.header().command(), VfioUserHeader.SIZE, VfioUserHeader.TYPE_REPLY, new byte[0]);
            write.get(10, TimeUnit.SECONDS);

            VfioUserException outside = assertThrows(VfioUserException.class, () -> dma.read(0x41000, new byte[1]));
            assertEquals(Errno.EFAULT.intValue(), outside.errno());
        } finally {
            devices.shutdownNow();
        }
    }

    @Test
    void aClientThatLeavesLeavesTheDeviceAsItWasAndItsResourcesReleased() {
        // The client keeps its own ends open, so the server's copies can be told apart from
        // anything else this JVM opens or closes meanwhile (by the file, not by a count of fds).
        try (SharedMemory ram = SharedMemory.create("client-ram", 1 << 20); EventFd v0 = EventFd.create()) {
            Map<Integer, OpenFiles.Identity> handedOver = OpenFiles.identities(ram.fd(), v0.fd());
            try (RawClient c = RawClient.negotiated(socket)) {
                assertFalse(c.dmaMap(0, 1 << 20, 0, 3, ram.fd()).isError());
                assertFalse(c.setIrqs(TRIGGER_EVENTFD, DeviceIrqs.MSIX, 0, 1, null, v0.fd()).isError());
                c.write(PciRegions.CONFIG, ConfigRegisters.INTERRUPT_LINE, 1, 0x0a);
                c.write(4, 0x14, 1, 1);   // virtio device status: ACKNOWLEDGE
                assertEquals(1, OpenFiles.acceptedConnectionsOn(socket).size(), "the server's end of the connection");
            }
            Await.until(() -> server.clientDma().isEmpty(), "the first client's session to end");
            OpenFiles.awaitOnlyOpenAs(handedOver, "the server closed the fds the client handed over");
            Await.until(() -> OpenFiles.acceptedConnectionsOn(socket).isEmpty(), "the server to close its end of the connection");
            assertTrue(device.memory().regions().isEmpty(), "the client's memory is unmapped");
            assertEquals(SignalResult.PENDING, device.msix().signal(0), "vectors are masked: signals wait in the PBA");
            try (RawClient next = RawClient.negotiated(socket)) {
                assertEquals(0x0a, next.read(PciRegions.CONFIG, ConfigRegisters.INTERRUPT_LINE, 1), "config space is kept");
                assertEquals(1, next.read(4, 0x14, 1), "the device status is kept");
                assertEquals(1, next.read(1, device.pci().config().get32(device.msix().capabilityOffset() + 8) & ~7L, 8),
                        "the interrupt is pending for the next client");
            }
            assertEquals(2, server.clientsAccepted());
            Await.until(() -> server.clientDma().isEmpty(), "the second client's session to end");
            Await.until(() -> OpenFiles.acceptedConnectionsOn(socket).isEmpty(), "the server to close the second connection");
        }
    }

    /**
     * interruptsDelivered() counts an interrupt no later than the client can see it: a client
     * that consumed n signals from its eventfd reads a count of at least n. (It used to be counted
     * after the eventfd was signalled, and a test that had seen its interrupt could read one less.)
     */
    @Test
    void anInterruptTheClientSawIsAlreadyCounted() throws Exception {
        try (RawClient c = RawClient.negotiated(socket); EventFd v0 = EventFd.create()) {
            assertFalse(c.setIrqs(TRIGGER_EVENTFD, DeviceIrqs.MSIX, 0, 1, null, v0.fd()).isError());
            long base = device.interruptsDelivered();
            int signals = 50_000;
            Thread signaller = new Thread(() -> {
                for (int i = 0; i < signals; i++) {
                    device.msix().signal(0);
                }
            }, "msix-signaller");
            signaller.start();
            long seen = 0;
            try {
                while (seen < signals) {
                    long n = v0.consume();
                    if (n > 0) {
                        seen += n;
                        long counted = device.interruptsDelivered() - base;
                        if (counted < seen) {
                            fail("the client has seen " + seen + " interrupts, interruptsDelivered() counts " + counted);
                        }
                    }
                }
            } finally {
                signaller.join(Await.HANG_GUARD.toMillis());
            }
            assertEquals(signals, device.interruptsDelivered() - base);
        }
    }

    @Test
    void deviceResetResetsTheDeviceButKeepsTheClientsInterrupts() {
        try (RawClient c = RawClient.negotiated(socket); EventFd v0 = EventFd.create()) {
            assertFalse(c.setIrqs(TRIGGER_EVENTFD, DeviceIrqs.MSIX, 0, 1, null, v0.fd()).isError());
            c.write(PciRegions.CONFIG, ConfigRegisters.COMMAND, 2, ConfigRegisters.COMMAND_MEMORY);
            assertFalse(c.request(VfioUserCommand.DEVICE_RESET, null).isError());
            assertEquals(0, c.read(PciRegions.CONFIG, ConfigRegisters.COMMAND, 2), "the command register is reset");
            assertTrue(device.msix().isEnabled());
            assertEquals(SignalResult.DELIVERED, device.msix().signal(0));
            assertEquals(1, v0.consume());
        }
    }

}
