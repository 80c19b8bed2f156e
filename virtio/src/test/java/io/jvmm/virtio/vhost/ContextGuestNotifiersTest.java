package io.jvmm.virtio.vhost;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jvmm.chardev.Await;
import io.jvmm.chardev.EventContext;
import io.jvmm.chardev.EventFd;
import io.jvmm.pci.dispatch.IoCompletion;
import io.jvmm.pci.mem.GuestMemory;
import io.jvmm.pci.msix.MsiMessage;
import io.jvmm.pci.msix.Msix;
import io.jvmm.pci.msix.RecordingInterruptSink;
import io.jvmm.virtio.VirtioActivation;
import io.jvmm.virtio.VirtioDevice;
import io.jvmm.virtio.pci.VirtioPciDevice;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The no-CPU guest notifier: a signal raises the vector, or sets its pending bit while it is masked. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class ContextGuestNotifiersTest {
    private static final MsiMessage MESSAGE = new MsiMessage(0xFEE0_0000L, 0x41);

    /** The smallest virtio device, so a real transport (with its MSI-X) can be built. */
    private static final class NullDevice implements VirtioDevice {
        public String id() { return "null0"; }
        public int deviceType() { return 4; }
        public String typeName() { return "null"; }
        public int pciClassCode() { return 0xff0000; }
        public long deviceFeatures() { return 0; }
        public int queueCount() { return 1; }
        public int maxQueueSize() { return 8; }
        public int configSize() { return 0; }
        public int readConfig(int offset, int size) { return 0; }
        public void writeConfig(int offset, int size, int value) { }
        public void activate(VirtioActivation activation) { }
        public void queueNotified(int queue) { }
        public CompletableFuture<Void> reset() { return IoCompletion.DONE; }
    }

    @Test
    void signalRaisesTheVectorOrSetsItsPendingBit() throws Exception {
        GuestMemory memory = GuestMemory.ofRam("ram", 1 << 20);
        RecordingInterruptSink sink = new RecordingInterruptSink();
        VirtioPciDevice pci = new VirtioPciDevice(new NullDevice(), memory, sink);
        try (EventContext ctx = EventContext.start("notifiers"); ContextGuestNotifiers notifiers = new ContextGuestNotifiers(ctx)) {
            Msix msix = pci.msix();
            pci.configWrite(msix.capabilityOffset() + 2, 2, Msix.CONTROL_ENABLE);
            long entry = Msix.ENTRY_SIZE;   // vector 1
            msix.tableHandler().write(entry, 4, MESSAGE.address());
            msix.tableHandler().write(entry + 8, 4, MESSAGE.data());
            msix.tableHandler().write(entry + 12, 4, 0);   // unmasked

            EventFd fd = notifiers.notifier(msix, 1);
            assertSame(fd, notifiers.notifier(msix, 1), "one notifier per vector");
            fd.signal();
            assertTrue(sink.awaitCount(MESSAGE, 1, Await.HANG_GUARD));

            msix.tableHandler().write(entry + 12, 4, 1);   // masked
            fd.signal();
            Await.until(() -> msix.isPending(1), "the pending bit");
            assertEquals(1, sink.count(MESSAGE), "nothing delivered while masked");
            msix.tableHandler().write(entry + 12, 4, 0);
            assertEquals(2, sink.count(MESSAGE), "delivered on unmask");

            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> notifiers.notifier(msix, 9));
            assertTrue(e.getMessage().contains("no MSI-X vector 9"), e.getMessage());
            notifiers.close();
            assertTrue(fd.isClosed());
        } finally {
            pci.close();
            memory.close();
        }
    }
}
