package io.jvmm.pci.msix;

import static io.jvmm.pci.ConfigRegisters.*;
import static org.junit.jupiter.api.Assertions.*;

import io.jvmm.pci.BarDefinition;
import io.jvmm.pci.PciBus;
import io.jvmm.pci.TestDevice;
import io.jvmm.pci.dispatch.IoCompletion;
import io.jvmm.pci.dispatch.IoSpace;
import io.jvmm.pci.dispatch.RecordingHandler;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(value = 60, unit = TimeUnit.SECONDS)
class MsixTest {

    private static final int VECTORS = 4;

    private final RecordingInterruptSink sink = new RecordingInterruptSink();
    private final Msix msix = new Msix("net0", VECTORS, sink);
    private final MsixBarHandler barHandler = new MsixBarHandler();
    private final TestDevice dev = new TestDevice("net0").withBar(1, BarDefinition.mem32(MsixBarHandler.SIZE, barHandler));
    private int cap;

    @BeforeEach
    void install() {
        barHandler.attach(msix);
        cap = msix.install(dev, 1, MsixBarHandler.TABLE, 1, MsixBarHandler.PBA);
    }

    private CompletableFuture<Void> control(int bits) {
        return dev.configWrite(cap + 2, 2, bits);
    }

    private static MsiMessage msg(int vector) {
        return new MsiMessage(0xFEE0_0000L | (vector << 12), 0x40 + vector);
    }

    private void program(int vector) {
        MsiMessage m = msg(vector);
        barHandler.write(vector * 16L, 4, m.address() & 0xFFFF_FFFFL);
        barHandler.write(vector * 16L + 4, 4, m.address() >>> 32);
        barHandler.write(vector * 16L + 8, 4, m.data());
    }

    private CompletableFuture<Void> setMask(int vector, boolean masked) {
        return barHandler.write(vector * 16L + 12, 4, masked ? 1 : 0);
    }

    private long pba() {
        return barHandler.read(MsixBarHandler.PBA, 8);
    }

    @Test
    void capabilityLayout() {
        assertEquals(0x40, cap);
        assertEquals(CAP_ID_MSIX, dev.config().capabilities().get(0).id());
        assertNotEquals(0, dev.configRead(STATUS, 2) & STATUS_CAPABILITIES_LIST);
        assertEquals(VECTORS - 1, dev.configRead(cap + 2, 2), "table size N-1, disabled, not masked");
        assertEquals(0x0000_0001, dev.configRead(cap + 4, 4), "table at offset 0 of BAR1");
        assertEquals(0x0000_0801, dev.configRead(cap + 8, 4), "PBA at 0x800 of BAR1");
        dev.configWrite(cap, 4, 0xFFFF_FFFF);
        assertEquals(0xC000 | (VECTORS - 1), dev.configRead(cap + 2, 2), "only enable and function mask are writable");
        assertEquals(CAP_ID_MSIX, dev.configRead(cap, 1));
        assertTrue(msix.isEnabled() && msix.isFunctionMasked());
        dev.configWrite(cap + 4, 4, 0);
        assertEquals(1, dev.configRead(cap + 4, 4), "table offset/BIR is read-only");
    }

    @Test
    void vectorsStartMasked() {
        for (int v = 0; v < VECTORS; v++) {
            assertEquals(1, barHandler.read(v * 16L + 12, 4), "vector control of " + v);
            assertTrue(msix.isMasked(v));
            assertTrue(msix.isVectorMaskBitSet(v));
            assertEquals(MsiMessage.ZERO, msix.message(v));
        }
        assertFalse(msix.isEnabled());
    }

    @Test
    void tableEntriesReadBackInDwordsAndQwords() {
        program(2);
        assertEquals(0xFEE0_2000L, barHandler.read(2 * 16, 4));
        assertEquals(0L, barHandler.read(2 * 16 + 4, 4));
        assertEquals(0x42L, barHandler.read(2 * 16 + 8, 4));
        assertEquals(0xFEE0_2000L, barHandler.read(2 * 16, 8));
        assertEquals(0x1_0000_0042L, barHandler.read(2 * 16 + 8, 8), "data and vector control (masked)");
        assertEquals(msg(2), msix.message(2));

        barHandler.write(2 * 16 + 2, 4, 0x1234);   // misaligned: ignored
        barHandler.write(2 * 16, 2, 0x1234);        // word: ignored
        assertEquals(msg(2), msix.message(2));
        assertEquals(0L, barHandler.read(2 * 16 + 4, 8), "misaligned qword read gives 0");
    }

    @Test
    void maskedSignalSetsPbaAndUnmaskDeliversExactlyOnce() {
        control(Msix.CONTROL_ENABLE);
        program(2);

        assertEquals(SignalResult.PENDING, msix.signal(2));
        assertEquals(SignalResult.PENDING, msix.signal(2), "coalesced in the same pending bit");
        assertEquals(0b100, pba(), "PBA bit 2 set");
        assertTrue(msix.isPending(2));
        assertEquals(0, sink.total());

        assertSame(IoCompletion.DONE, setMask(2, false));
        assertEquals(1, sink.count(msg(2)), "one delivery, with the vector's message");
        assertEquals(1, sink.total());
        assertEquals(0, pba());
        assertFalse(msix.isPending(2));

        setMask(2, false);   // unmasking again: nothing pending
        assertEquals(1, sink.total());
        assertEquals(SignalResult.DELIVERED, msix.signal(2));
        assertEquals(2, sink.count(msg(2)));
        setMask(2, true);
        assertEquals(SignalResult.PENDING, msix.signal(2));
        assertEquals(2, sink.total());
    }

    @Test
    void functionMaskHoldsSignalsOfUnmaskedVectorsUntilCleared() {
        control(Msix.CONTROL_ENABLE | Msix.CONTROL_FUNCTION_MASK);
        program(1);
        program(3);
        setMask(1, false);
        assertTrue(msix.isMasked(1), "function mask masks every vector");
        assertFalse(msix.isVectorMaskBitSet(1));

        assertEquals(SignalResult.PENDING, msix.signal(1));
        assertEquals(SignalResult.PENDING, msix.signal(3));
        assertEquals(0b1010, pba());

        control(Msix.CONTROL_ENABLE);
        assertEquals(1, sink.count(msg(1)), "vector 1 delivered when the function mask clears");
        assertEquals(0, sink.count(msg(3)), "vector 3 still has its own mask");
        assertEquals(0b1000, pba());

        setMask(3, false);
        assertEquals(1, sink.count(msg(3)));
        assertEquals(0, pba());
        assertEquals(2, sink.total());
    }

    @Test
    void disabledMsixDropsSignals() {
        program(0);
        setMask(0, false);
        assertEquals(SignalResult.DROPPED, msix.signal(0));
        assertEquals(0, pba(), "a dropped signal leaves no pending bit");
        control(Msix.CONTROL_ENABLE);
        assertEquals(0, sink.total(), "enabling later delivers nothing for it");
        assertEquals(SignalResult.DELIVERED, msix.signal(0));
        assertEquals(1, sink.total());
        control(0);
        assertEquals(SignalResult.DROPPED, msix.signal(0));
        assertTrue(msix.isMasked(0), "disabled counts as masked");
    }

    @Test
    void observersSeeEffectiveMaskChangesAndTheirCompletionsReachTheWrite() {
        List<String> events = Collections.synchronizedList(new ArrayList<>());
        CompletableFuture<Void> unmaskAck = new CompletableFuture<>();
        CompletableFuture<Void> maskAck = new CompletableFuture<>();
        msix.addObserver(new MsixVectorObserver() {
            @Override
            public CompletableFuture<Void> vectorMasked(int vector) {
                events.add("masked " + vector + " state=" + msix.isMasked(vector));
                return maskAck;
            }

            @Override
            public CompletableFuture<Void> vectorUnmasked(int vector) {
                events.add("unmasked " + vector + " state=" + msix.isMasked(vector) + " pending=" + msix.isPending(vector)
                        + " delivered=" + sink.total());
                return unmaskAck;
            }
        });
        control(Msix.CONTROL_ENABLE);
        program(1);
        msix.signal(1);
        assertTrue(events.isEmpty(), "enabling with every vector masked changes no effective mask");

        CompletableFuture<Void> write = setMask(1, false);
        assertSame(unmaskAck, write, "the vCPU waits on the observer's completion");
        assertFalse(write.isDone());
        assertEquals(List.of("unmasked 1 state=false pending=false delivered=1"), events,
                "called after the state change and after the pending delivery");

        assertSame(maskAck, control(Msix.CONTROL_ENABLE | Msix.CONTROL_FUNCTION_MASK),
                "function mask masks vector 1: the config write returns the observer's completion");
        assertEquals("masked 1 state=true", events.get(1));
        assertSame(IoCompletion.DONE, setMask(1, true), "already effectively masked: no observer call");
        assertEquals(2, events.size());

        control(Msix.CONTROL_ENABLE);
        assertEquals(2, events.size(), "vector 1 is still masked by its own bit");
        setMask(1, false);
        setMask(2, false);
        events.clear();
        CompletableFuture<Void> disable = control(0);
        assertEquals(List.of("masked 1 state=true", "masked 2 state=true"), events);
        assertFalse(disable.isDone());
        maskAck.complete(null);
        assertTrue(disable.isDone());
    }

    @Test
    void observersAreToldInOrderUntilRemovedAndTheWriteWaitsForAllOfThem() {
        List<String> events = Collections.synchronizedList(new ArrayList<>());
        CompletableFuture<Void> firstAck = new CompletableFuture<>();
        AtomicReference<CompletableFuture<Void>> secondAck = new AtomicReference<>(new CompletableFuture<>());
        MsixVectorObserver first = new MsixVectorObserver() {
            @Override
            public CompletableFuture<Void> vectorMasked(int vector) {
                events.add("first masked " + vector);
                return firstAck;
            }

            @Override
            public CompletableFuture<Void> vectorUnmasked(int vector) {
                events.add("first unmasked " + vector);
                return IoCompletion.DONE;
            }
        };
        MsixVectorObserver second = new MsixVectorObserver() {
            @Override
            public CompletableFuture<Void> vectorMasked(int vector) {
                events.add("second masked " + vector);
                return secondAck.get();
            }
        };
        msix.addObserver(first);
        msix.addObserver(second);
        control(Msix.CONTROL_ENABLE);
        program(0);
        assertSame(IoCompletion.DONE, setMask(0, false), "no observer waits at unmask: nothing to wait for");
        CompletableFuture<Void> mask = setMask(0, true);
        assertEquals(List.of("first unmasked 0", "first masked 0", "second masked 0"), events, "in the order they were added");
        assertFalse(mask.isDone());
        firstAck.complete(null);
        assertFalse(mask.isDone(), "the write waits for every observer's completion");
        secondAck.get().complete(null);
        assertTrue(mask.isDone());

        msix.removeObserver(first);
        events.clear();
        setMask(0, false);
        secondAck.set(new CompletableFuture<>());
        assertSame(secondAck.get(), setMask(0, true), "the one observer left hands back its own completion");
        assertEquals(List.of("second masked 0"), events, "a removed observer is told nothing");
        msix.removeObserver(second);
        msix.removeObserver(second);   // not there any more: nothing happens
        events.clear();
        assertSame(IoCompletion.DONE, setMask(0, false));
        assertSame(IoCompletion.DONE, setMask(0, true));
        assertTrue(events.isEmpty());
    }

    @Test
    void messageChangesAreObservedAndQwordAddressWritesAreOneStep() {
        List<String> changes = new ArrayList<>();
        msix.addObserver(new MsixVectorObserver() {
            @Override
            public void vectorChanged(int vector, MsiMessage message) {
                changes.add(vector + " " + message);
            }
        });
        barHandler.write(16, 8, 0x1_2345_6000L);
        assertEquals(List.of("1 " + new MsiMessage(0x1_2345_6000L, 0)), changes, "one change with both halves");
        barHandler.write(16 + 8, 4, 0x77);
        barHandler.write(16 + 8, 4, 0x77);
        assertEquals(2, changes.size(), "an unchanged value is no change");
        assertEquals(new MsiMessage(0x1_2345_6000L, 0x77), msix.message(1));

        barHandler.write(16 + 8, 8, 0x88L);   // data 0x88, vector control 0: unmask with the new data
        control(Msix.CONTROL_ENABLE);
        assertFalse(msix.isMasked(1));
        msix.signal(1);
        assertEquals(new MsiMessage(0x1_2345_6000L, 0x88), sink.last());
    }

    @Test
    void deliveriesNeverSeeATornAddress() throws Exception {
        MsiMessage a = new MsiMessage(0x1_1111_1000L, 7);
        MsiMessage b = new MsiMessage(0x2_2222_2000L, 7);
        AtomicReference<MsiMessage> bad = new AtomicReference<>();
        Msix checked = new Msix("chk", 1, m -> {
            if (!m.equals(a) && !m.equals(b)) {
                bad.compareAndSet(null, m);
            }
        });
        checked.tableHandler().write(0, 8, a.address());
        checked.tableHandler().write(8, 8, 7);   // data 7, unmasked
        TestDevice d = new TestDevice("chk").withBar(0, BarDefinition.mem32(0x1000, new RecordingHandler(0)));
        int c = checked.install(d, 0, 0, 0, 0x800);
        d.configWrite(c + 2, 2, Msix.CONTROL_ENABLE);

        AtomicBoolean stop = new AtomicBoolean();
        Thread signaller = new Thread(() -> {
            while (!stop.get()) {
                checked.signal(0);
            }
        });
        signaller.start();
        for (int i = 0; i < 200_000; i++) {
            checked.tableHandler().write(0, 8, (i & 1) == 0 ? b.address() : a.address());
        }
        stop.set(true);
        signaller.join();
        assertNull(bad.get(), "a delivery mixed the halves of two addresses");
    }

    @Test
    void pbaCoversEveryVectorAndIsReadOnly() {
        RecordingInterruptSink s = new RecordingInterruptSink();
        Msix big = new Msix("big", 130, s);
        assertEquals(130 * 16, big.tableSize());
        assertEquals(24, big.pbaSize(), "130 vectors need three qwords");
        TestDevice d = new TestDevice("big").withBar(0, BarDefinition.mem32(0x1000, new RecordingHandler(0)));
        int c = big.install(d, 0, 0, 0, 0x900);
        d.configWrite(c + 2, 2, Msix.CONTROL_ENABLE);
        big.signal(0);
        big.signal(64);
        big.signal(129);
        IoHandlerReads pba = new IoHandlerReads(big);
        assertEquals(1L, pba.read(0, 8));
        assertEquals(1L, pba.read(8, 8));
        assertEquals(0b10L, pba.read(16, 8));
        assertEquals(0b10L, pba.read(16, 1));
        assertEquals(1L, pba.read(8, 4));
        assertEquals(0L, pba.read(12, 4));
        big.pbaHandler().write(16, 8, 0);
        assertEquals(0b10L, pba.read(16, 8), "writes to the PBA are ignored");
        big.tableHandler().write(129 * 16 + 12, 4, 0);
        assertEquals(0L, pba.read(16, 8));
        assertEquals(1, s.total());
    }

    private record IoHandlerReads(Msix m) {
        long read(long offset, int size) {
            return m.pbaHandler().read(offset, size);
        }
    }

    @Test
    void functionResetResetsMsix() {
        control(Msix.CONTROL_ENABLE | Msix.CONTROL_FUNCTION_MASK);
        program(0);
        setMask(0, false);
        msix.signal(0);
        assertTrue(msix.isPending(0));

        dev.resetFunction();

        assertFalse(msix.isEnabled());
        assertFalse(msix.isFunctionMasked());
        assertEquals(VECTORS - 1, dev.configRead(cap + 2, 2));
        assertTrue(msix.isVectorMaskBitSet(0));
        assertFalse(msix.isPending(0));
        assertEquals(MsiMessage.ZERO, msix.message(0));
        control(Msix.CONTROL_ENABLE);
        setMask(0, false);
        assertEquals(0, sink.total(), "the pending bit did not survive the reset");
    }

    @Test
    void worksThroughTheBusAndMmio() {
        IoSpace mmio = IoSpace.mmio();
        PciBus bus = new PciBus(mmio, IoSpace.pio());
        bus.attach(dev, 2);
        dev.configWrite(bar(1), 4, 0xFE00_0000);
        dev.configWrite(COMMAND, 2, COMMAND_MEMORY | COMMAND_BUS_MASTER);
        control(Msix.CONTROL_ENABLE);
        mmio.write(0xFE00_0000L + 3 * 16, 8, 0xFEE0_1000L);
        mmio.write(0xFE00_0000L + 3 * 16 + 8, 8, 0x1_0000_0033L);   // data 0x33, masked
        assertEquals(SignalResult.PENDING, msix.signal(3));
        assertEquals(0b1000L, mmio.read(0xFE00_0000L + MsixBarHandler.PBA, 8));
        mmio.write(0xFE00_0000L + 3 * 16 + 12, 4, 0);
        assertEquals(1, sink.count(0xFEE0_1000L, 0x33));
    }

    @Test
    void installIsValidated() {
        RecordingHandler h = new RecordingHandler(0);
        TestDevice d = new TestDevice("d")
                .withBar(0, BarDefinition.io(0x100, h))
                .withBar(1, BarDefinition.mem32(0x100, h))
                .withBar(2, BarDefinition.mem64(0x1000, false, h));
        Msix m = new Msix("d", 8, sink);
        assertThrows(IllegalArgumentException.class, () -> m.install(d, 0, 0, 1, 0x80), "IO BAR");
        assertThrows(IllegalArgumentException.class, () -> m.install(d, 5, 0, 1, 0x80), "undefined BAR");
        assertThrows(IllegalArgumentException.class, () -> m.install(d, 3, 0, 1, 0x80), "upper half of a 64-bit BAR");
        assertThrows(IllegalArgumentException.class, () -> m.install(d, 1, 0xA0, 1, 0), "table runs past the BAR");
        assertThrows(IllegalArgumentException.class, () -> m.install(d, 1, 0, 1, 0x40), "table and PBA overlap");
        assertThrows(IllegalArgumentException.class, () -> m.install(d, 1, 4, 2, 0), "misaligned");
        assertTrue(d.config().capabilities().isEmpty(), "a refused install leaves no capability");
        m.install(d, 2, 0x100, 1, 0);
        assertEquals(0x102, d.configRead(0x44, 4), "table at 0x100 of BAR2");
        assertThrows(IllegalStateException.class, () -> m.install(d, 2, 0x100, 1, 0));
    }

    @Test
    void badArgumentsNameTheDevice() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> msix.signal(VECTORS));
        assertTrue(e.getMessage().contains("net0") && e.getMessage().contains("4"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> msix.signal(-1));
        assertThrows(IllegalArgumentException.class, () -> new Msix("x", 0, sink));
        assertThrows(IllegalArgumentException.class, () -> new Msix("x", 2049, sink));
        assertEquals(2048 * 16, new Msix("x", 2048, sink).tableSize());
        assertEquals(256, new Msix("x", 2048, sink).pbaSize());
        assertEquals(8, new Msix("x", 64, sink).pbaSize());
        assertEquals(16, new Msix("x", 65, sink).pbaSize());
    }

    /** What MSI-X counts for its meters: each signal once under its outcome, each delivery once. */
    @Test
    void countersSeeEachSignalOnceUnderItsOutcomeAndEachDelivery() {
        MsixCounters c = msix.counters();
        msix.signal(0);
        assertEquals(1, c.signalsDropped(), "MSI-X disabled");

        program(0);
        program(1);
        control(Msix.CONTROL_ENABLE).join();
        setMask(0, false).join();
        msix.signal(0);
        msix.signal(0);
        assertEquals(2, c.signalsDelivered());
        assertEquals(2, c.deliveries());

        msix.signal(1);   // masked since reset: pending
        msix.signal(1);   // still pending: one delivery on unmask
        assertEquals(2, c.signalsPending());
        assertEquals(2, c.deliveries(), "nothing delivered while masked");
        setMask(1, false).join();
        assertEquals(3, c.deliveries(), "the pending bit delivered once on unmask");
        assertEquals(1, c.pendingDeliveries());
        assertEquals(5, c.signals());
        assertEquals(c.deliveries(), sink.total(), "every delivery counted reached the sink");
    }
}
