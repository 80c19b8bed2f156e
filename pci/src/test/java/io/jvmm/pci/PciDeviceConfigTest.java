package io.jvmm.pci;

import static io.jvmm.pci.ConfigRegisters.*;
import static org.junit.jupiter.api.Assertions.*;

import io.jvmm.pci.dispatch.IoCompletion;
import io.jvmm.pci.dispatch.IoSpace;
import io.jvmm.pci.dispatch.RecordingHandler;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

class PciDeviceConfigTest {

    private final TestDevice dev = new TestDevice("dev0").withInterruptPin(1);

    @Test
    void identityRegisters() {
        assertEquals(TestDevice.VENDOR, dev.configRead(VENDOR_ID, 2));
        assertEquals(TestDevice.DEVICE, dev.configRead(DEVICE_ID, 2));
        assertEquals(TestDevice.REVISION, dev.configRead(REVISION_ID, 1));
        assertEquals(TestDevice.CLASS, dev.configRead(REVISION_ID, 4) >>> 8);
        assertEquals(0x02, dev.configRead(0x0B, 1), "base class");
        assertEquals(0, dev.configRead(HEADER_TYPE, 1));
        assertEquals(TestDevice.SUBSYSTEM_VENDOR, dev.configRead(SUBSYSTEM_VENDOR_ID, 2));
        assertEquals(TestDevice.SUBSYSTEM, dev.configRead(SUBSYSTEM_ID, 2));
    }

    @Test
    void identityRegistersIgnoreWrites() {
        int[] offsets = {VENDOR_ID, REVISION_ID, 0x0C, SUBSYSTEM_VENDOR_ID, EXPANSION_ROM, CAPABILITIES_POINTER};
        List<Integer> before = new ArrayList<>();
        for (int offset : offsets) {
            before.add(dev.configRead(offset, 4));
        }
        for (int offset : offsets) {
            dev.configWrite(offset, 4, 0xFFFF_FFFF);
        }
        for (int i = 0; i < offsets.length; i++) {
            int expected = before.get(i);
            if (offsets[i] == 0x0C) {
                expected |= 0xFF;   // cache line size is read/write; latency, header type and BIST are not
            }
            assertEquals(expected, dev.configRead(offsets[i], 4), "offset 0x" + Integer.toHexString(offsets[i]));
        }
        assertEquals(0, dev.configRead(HEADER_TYPE, 1));
    }

    @Test
    void onlyIoMemoryBusMasterAndIntxDisableAreWritableInCommand() {
        dev.configWrite(COMMAND, 2, 0xFFFF);
        assertEquals(0x0407, dev.configRead(COMMAND, 2));
        assertTrue(dev.ioDecoding() && dev.memoryDecoding() && dev.busMaster() && dev.intxDisabled());
        dev.configWrite(COMMAND, 2, COMMAND_BUS_MASTER);
        assertEquals(COMMAND_BUS_MASTER, dev.configRead(COMMAND, 2));
        assertFalse(dev.ioDecoding() || dev.memoryDecoding() || dev.intxDisabled());
        assertTrue(dev.busMaster());
    }

    @Test
    void statusErrorBitsAreWriteOneToClearAndTheCapabilityBitIsReadOnly() {
        dev.config().addCapability(0x09, 4);
        dev.config().set16(STATUS, dev.config().get16(STATUS) | STATUS_RECEIVED_MASTER_ABORT | STATUS_DETECTED_PARITY_ERROR);

        dev.configWrite(STATUS, 2, STATUS_RECEIVED_MASTER_ABORT);
        int status = dev.configRead(STATUS, 2);
        assertEquals(0, status & STATUS_RECEIVED_MASTER_ABORT, "written 1 clears");
        assertNotEquals(0, status & STATUS_DETECTED_PARITY_ERROR, "written 0 leaves");

        dev.configWrite(STATUS, 2, 0xFFFF);
        assertEquals(STATUS_CAPABILITIES_LIST, dev.configRead(STATUS, 2), "all errors cleared; capability bit stays, nothing set");
        dev.configWrite(STATUS, 2, 0);
        assertEquals(STATUS_CAPABILITIES_LIST, dev.configRead(STATUS, 2));
    }

    @Test
    void commandWriteAsDwordDoesNotTouchStatus() {
        dev.config().set16(STATUS, STATUS_SIGNALED_SYSTEM_ERROR);
        dev.configWrite(COMMAND, 4, COMMAND_MEMORY);   // upper half zero: leaves W1C bits
        assertEquals(STATUS_SIGNALED_SYSTEM_ERROR, dev.configRead(STATUS, 2));
        assertTrue(dev.memoryDecoding());
    }

    @Test
    void interruptLineWritablePinReadOnly() {
        dev.configWrite(INTERRUPT_LINE, 2, 0x0B0A);
        assertEquals(0x0A, dev.configRead(INTERRUPT_LINE, 1));
        assertEquals(1, dev.configRead(INTERRUPT_PIN, 1));
    }

    @Test
    void interceptorSeesClippedAccessesAndItsCompletionIsReturned() {
        int cap = dev.config().addCapability(0x09, 8);
        dev.config().setWritable(cap + 4, 4);
        List<String> seen = new ArrayList<>();
        CompletableFuture<Void> ack = new CompletableFuture<>();
        dev.interceptConfig(cap + 4, 2, new ConfigInterceptor() {
            @Override
            public int read(int offsetInRange, int size, int storedValue) {
                seen.add("r " + offsetInRange + "/" + size + "/" + Integer.toHexString(storedValue));
                return 0xBEEF >>> (8 * offsetInRange);
            }

            @Override
            public CompletableFuture<Void> written(int offsetInRange, int size, int value) {
                seen.add("w " + offsetInRange + "/" + size + "/" + Integer.toHexString(value));
                return ack;
            }
        });

        assertSame(ack, dev.configWrite(cap + 4, 4, 0x1122_3344));
        assertEquals("w 0/2/3344", seen.get(0), "a dword write is clipped to the intercepted word");
        assertEquals(0x1122_3344, dev.config().get32(cap + 4), "stored before the interceptor is told");

        assertEquals(0x1122_BEEF, dev.configRead(cap + 4, 4), "intercepted bytes replaced, the rest stored");
        assertEquals("r 0/2/3344", seen.get(1));
        assertEquals(0xBE, dev.configRead(cap + 5, 1));
        assertEquals("r 1/1/33", seen.get(2));

        assertSame(IoCompletion.DONE, dev.configWrite(cap + 6, 2, 0));
        assertEquals(3, seen.size(), "a write outside the range does not reach the interceptor");
    }

    @Test
    void interceptedRangesMayNotOverlapOrCoverTheHeader() {
        ConfigInterceptor none = new ConfigInterceptor() {
            @Override
            public int read(int offsetInRange, int size, int storedValue) {
                return storedValue;
            }

            @Override
            public CompletableFuture<Void> written(int offsetInRange, int size, int value) {
                return IoCompletion.DONE;
            }
        };
        dev.interceptConfig(0x40, 4, none);
        assertThrows(IllegalArgumentException.class, () -> dev.interceptConfig(0x42, 4, none));
        assertThrows(IllegalArgumentException.class, () -> dev.interceptConfig(COMMAND, 2, none));
        assertThrows(IllegalArgumentException.class, () -> dev.interceptConfig(0xFE, 4, none));
    }

    @Test
    void badAccessesNameTheDevice() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> dev.configRead(0xFE, 4));
        assertTrue(e.getMessage().contains("dev0"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> dev.configWrite(0x10, 8, 0));
        assertThrows(IllegalArgumentException.class, () -> dev.configRead(0x100, 1));
    }

    @Test
    void badIdentityIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> new TestDevice(""));
        assertThrows(IllegalArgumentException.class, () -> new PciDevice("x", 0xFFFF, 1, 0, 0, 0, 0) { });
        assertThrows(IllegalArgumentException.class, () -> new PciDevice("x", 1, 0x10000, 0, 0, 0, 0) { });
        assertThrows(IllegalArgumentException.class, () -> new PciDevice("x", 1, 1, 0x1000000, 0, 0, 0) { });
        assertThrows(IllegalArgumentException.class, () -> dev.withInterruptPin(5));
    }

    @Test
    void functionResetClearsTheHeaderUnmapsBarsAndRunsHooks() {
        IoSpace mmio = IoSpace.mmio();
        PciBus bus = new PciBus(mmio, IoSpace.pio());
        dev.withBar(0, BarDefinition.mem32(0x1000, new RecordingHandler(0)));
        bus.attach(dev, 3);
        List<String> order = new ArrayList<>();
        dev.addResetHook(() -> order.add("hook, command=" + dev.config().get16(COMMAND)));
        dev.configWrite(bar(0), 4, 0xE000_0000);
        dev.configWrite(COMMAND, 2, COMMAND_MEMORY | COMMAND_BUS_MASTER);
        dev.configWrite(INTERRUPT_LINE, 1, 11);
        dev.config().set16(STATUS, STATUS_RECEIVED_TARGET_ABORT);
        assertTrue(mmio.find(0xE000_0000L).isPresent());

        dev.resetFunction();

        assertEquals(0, dev.configRead(COMMAND, 2));
        assertEquals(0, dev.configRead(STATUS, 2));
        assertEquals(0, dev.configRead(INTERRUPT_LINE, 1));
        assertEquals(1, dev.configRead(INTERRUPT_PIN, 1));
        assertEquals(0, dev.configRead(bar(0), 4));
        assertEquals(-1, dev.barAddress(0));
        assertTrue(mmio.find(0xE000_0000L).isEmpty(), "BAR unmapped");
        assertEquals(List.of("hook, command=0"), order, "hooks run after the header reset");
        assertEquals(1, dev.resets);
        assertEquals("reset", dev.events.get(dev.events.size() - 1), "the device hook runs last");
    }
}
