package io.jvmm.pci;

import static io.jvmm.pci.ConfigRegisters.*;
import static org.junit.jupiter.api.Assertions.*;

import io.jvmm.chardev.EventFd;
import io.jvmm.pci.dispatch.IoSpace;
import io.jvmm.pci.dispatch.RecordingHandler;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Registers whose writes are eventfds: matched on the trapped write, or handed to the machine's binder. */
class IoEventTest {
    private final IoSpace mmio = IoSpace.mmio();
    private final PciBus bus = new PciBus(mmio, IoSpace.pio());
    private final RecordingHandler handler = new RecordingHandler(0);
    private final TestDevice dev = new TestDevice("door0").withBar(0, BarDefinition.mem32(0x1000, handler));
    private final EventFd any = EventFd.create();
    private final EventFd five = EventFd.create();

    /** A binder that takes every event and records what it was told. */
    private static final class RecordingBinder implements IoEventBinder {
        final List<String> calls = new ArrayList<>();

        @Override
        public boolean bind(IoEvent event, long address, boolean pio) {
            calls.add("bind 0x" + Long.toHexString(address) + (event.matchData() ? " ==" + event.data() : ""));
            return true;
        }

        @Override
        public void unbind(IoEvent event, long address, boolean pio) {
            calls.add("unbind 0x" + Long.toHexString(address));
        }
    }

    @AfterEach
    void close() {
        any.close();
        five.close();
    }

    private void map(long address) {
        dev.configWrite(bar(0), 4, (int) address);
        dev.configWrite(COMMAND, 2, COMMAND_MEMORY);
    }

    @Test
    void aTrappedWriteThatIsTheEventSignalsItsEventFdAndNothingElseDoes() {
        bus.attach(dev, 1);
        dev.addIoEvent(IoEvent.any(0, 0x10, 2, any));
        dev.addIoEvent(IoEvent.matching(0, 0x20, 4, 5, five));
        map(0xE000_0000L);

        mmio.write(0xE000_0010L, 2, 7);
        assertEquals(1, any.consume(), "a 2-byte write at the event's offset signals it");
        assertTrue(handler.writes.isEmpty(), "and does not reach the handler");
        mmio.write(0xE000_0010L, 4, 7);
        assertEquals(0, any.consume(), "another width is not the event");
        mmio.write(0xE000_0020L, 4, 6);
        assertEquals(0, five.consume(), "another value is not a datamatch event");
        mmio.write(0xE000_0020L, 4, 5);
        assertEquals(1, five.consume());
        assertEquals(List.of("16/4/0x7", "32/4/0x6"), handler.writes, "what was no event reached the handler");

        dev.barWrite(0, 0x10, 2, 1);
        assertEquals(1, any.consume(), "the BAR access of a machine without a bus (vfio-user) matches too");
    }

    @Test
    void theBinderIsToldWhereEventsAreWheneverTheBarMoves() {
        RecordingBinder binder = new RecordingBinder();
        bus.attach(dev, 1);
        dev.bindIoEvents(binder);
        dev.addIoEvent(IoEvent.matching(0, 0x20, 4, 5, five));
        assertTrue(binder.calls.isEmpty(), "nothing is bound while the BAR is not mapped");
        map(0xE000_0000L);
        assertEquals(List.of("bind 0xe0000020 ==5"), binder.calls);
        mmio.write(0xE000_0020L, 4, 5);
        assertEquals(1, five.consume(), "a write that traps all the same (it cannot under KVM) still means the event");

        dev.configWrite(bar(0), 4, 0xE010_0000);
        assertEquals(List.of("bind 0xe0000020 ==5", "unbind 0xe0000020", "bind 0xe0100020 ==5"), binder.calls);
        IoEvent late = IoEvent.any(0, 0x40, 4, any);
        dev.addIoEvent(late);
        dev.removeIoEvent(late);
        dev.configWrite(COMMAND, 2, 0);
        assertEquals(List.of("bind 0xe0000020 ==5", "unbind 0xe0000020", "bind 0xe0100020 ==5", "bind 0xe0100040",
                "unbind 0xe0100040", "unbind 0xe0100020"), binder.calls);
    }

    @Test
    void eventsMustLieInARegisterBarAndNotOverlap() {
        assertThrows(IllegalArgumentException.class, () -> dev.addIoEvent(IoEvent.any(1, 0, 4, any)), "no BAR1");
        assertThrows(IllegalArgumentException.class, () -> dev.addIoEvent(IoEvent.any(0, 0xffe, 4, any)), "past the end");
        dev.addIoEvent(IoEvent.matching(0, 0, 4, 1, any));
        dev.addIoEvent(IoEvent.matching(0, 0, 4, 2, five));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> dev.addIoEvent(IoEvent.any(0, 0, 4, any)));
        assertTrue(e.getMessage().contains("overlaps"), e.getMessage());
    }
}
