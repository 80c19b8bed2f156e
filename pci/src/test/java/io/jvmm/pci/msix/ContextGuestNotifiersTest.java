package io.jvmm.pci.msix;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jvmm.chardev.Await;
import io.jvmm.chardev.EventContext;
import io.jvmm.chardev.EventFd;
import io.jvmm.pci.BarDefinition;
import io.jvmm.pci.TestDevice;
import io.jvmm.pci.dispatch.RecordingHandler;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The no-CPU guest notifier: a signal raises the vector, or sets its pending bit while it is masked. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class ContextGuestNotifiersTest {
    private static final MsiMessage MESSAGE = new MsiMessage(0xFEE0_0000L, 0x41);

    @Test
    void signalRaisesTheVectorOrSetsItsPendingBit() throws Exception {
        RecordingInterruptSink sink = new RecordingInterruptSink();
        Msix msix = new Msix("null0", 2, sink);
        TestDevice pci = new TestDevice("null0").withBar(1, BarDefinition.mem32(4096, new RecordingHandler(0)));
        msix.install(pci, 1, 0, 1, 2048);
        try (EventContext ctx = EventContext.start("notifiers"); ContextGuestNotifiers notifiers = new ContextGuestNotifiers(ctx)) {
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
        }
    }
}
