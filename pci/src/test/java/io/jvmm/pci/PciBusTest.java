package io.jvmm.pci;

import static io.jvmm.pci.ConfigRegisters.*;
import static org.junit.jupiter.api.Assertions.*;

import io.jvmm.pci.dispatch.IoCompletion;
import io.jvmm.pci.dispatch.IoSpace;
import io.jvmm.pci.dispatch.RecordingHandler;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

class PciBusTest {

    private static final int CONFIG_ADDRESS = 0xCF8;
    private static final int CONFIG_DATA = 0xCFC;

    private final IoSpace mmio = IoSpace.mmio();
    private final IoSpace pio = IoSpace.pio();
    private final PciBus bus = new PciBus(mmio, pio);

    private static int address(int bus, int slot, int function, int register) {
        return 0x8000_0000 | (bus << 16) | (slot << 11) | (function << 8) | register;
    }

    @Test
    void hostBridgeIsAtSlotZero() {
        PciDevice bridge = bus.device(0).orElseThrow();
        assertSame(bus.hostBridge(), bridge);
        assertEquals(0x8086, bus.configRead(0, 0, 0, VENDOR_ID, 2));
        assertEquals(0x0600, bus.configRead(0, 0, 0, 0x0A, 2), "class: host bridge");
        assertEquals(List.of(bridge), bus.devices());
    }

    @Test
    void attachRefusesTakenSlotsNamingBothDevices() {
        bus.attach(new TestDevice("net0"), 3);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> bus.attach(new TestDevice("blk0"), 3));
        assertTrue(e.getMessage().contains("net0") && e.getMessage().contains("blk0"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> bus.attach(new TestDevice("x"), 0), "slot 0 is the host bridge");
        assertThrows(IllegalArgumentException.class, () -> bus.attach(new TestDevice("y"), 32));
        assertThrows(IllegalArgumentException.class, () -> bus.attach(new TestDevice("net0"), 4), "duplicate id");
        TestDevice twice = new TestDevice("twice");
        bus.attach(twice, 5);
        assertThrows(IllegalStateException.class, () -> new PciBus(IoSpace.mmio(), IoSpace.pio()).attach(twice, 1));
    }

    @Test
    void nextFreeSlotFillsTheBus() {
        assertEquals(1, bus.nextFreeSlot());
        bus.attach(new TestDevice("a"), 1);
        bus.attach(new TestDevice("c"), 3);
        assertEquals(2, bus.nextFreeSlot());
        for (int slot = 2; slot < PciBus.SLOTS; slot++) {
            if (bus.device(slot).isEmpty()) {
                bus.attach(new TestDevice("d" + slot), bus.nextFreeSlot());
            }
        }
        assertEquals(32, bus.devices().size());
        assertThrows(IllegalStateException.class, bus::nextFreeSlot);
    }

    @Test
    void absentFunctionsReadAllOnesAndIgnoreWrites() {
        TestDevice dev = new TestDevice("dev0");
        bus.attach(dev, 2);
        assertEquals(0xFFFF, bus.configRead(0, 7, 0, VENDOR_ID, 2) & 0xFFFF);
        assertEquals(0xFFFF_FFFF, bus.configRead(0, 2, 1, VENDOR_ID, 4), "function 1 absent");
        assertEquals(0xFFFF_FFFF, bus.configRead(1, 2, 0, VENDOR_ID, 4), "bus 1 absent");
        assertSame(IoCompletion.DONE, bus.configWrite(0, 2, 1, COMMAND, 2, COMMAND_MEMORY));
        assertFalse(dev.memoryDecoding());
        assertThrows(IllegalArgumentException.class, () -> bus.configRead(0, 32, 0, 0, 4));
        assertThrows(IllegalArgumentException.class, () -> bus.configRead(0, 1, 0, 0xFE, 4));
    }

    @Test
    void configMechanism1EnumeratesVendorIds() {
        bus.attach(new TestDevice("a", 0x1041), 1);
        bus.attach(new TestDevice("b", 0x1042), 4);
        bus.installConfigMechanism1();

        for (int slot = 0; slot < PciBus.SLOTS; slot++) {
            pio.write(CONFIG_ADDRESS, 4, address(0, slot, 0, 0));
            int vendor = (int) pio.read(CONFIG_DATA, 2);
            int id = (int) pio.read(CONFIG_DATA, 4);
            switch (slot) {
                case 0 -> assertEquals(0x1237_8086, id);
                case 1 -> assertEquals(0x1041_1AF4, id);
                case 4 -> assertEquals(0x1042_1AF4, id);
                default -> {
                    assertEquals(0xFFFF, vendor, "empty slot " + slot);
                    assertEquals(0xFFFF_FFFFL, pio.read(CONFIG_DATA, 4));
                }
            }
        }
    }

    @Test
    void configMechanism1ByteAndWordAccessesInsideTheDataWindow() {
        bus.attach(new TestDevice("a", 0x1041), 1);
        bus.installConfigMechanism1();
        pio.write(CONFIG_ADDRESS, 4, address(0, 1, 0, 0x00));
        assertEquals(0x1AL, pio.read(0xCFD, 1), "high byte of the vendor id");
        assertEquals(0x1041L, pio.read(0xCFE, 2), "device id");
        assertEquals(0x41_1AL, pio.read(0xCFD, 2), "unaligned word");
        assertEquals(0xFFFF_FFFFL, pio.read(0xCFE, 4), "running past 0xCFF reads all ones");

        pio.write(CONFIG_ADDRESS, 4, address(0, 1, 0, 0x08));
        assertEquals(0x02L, pio.read(0xCFF, 1), "base class at 0x0B");

        pio.write(CONFIG_ADDRESS, 4, address(0, 1, 0, 0x3C));
        pio.write(0xCFC, 1, 0x0B);
        pio.write(0xCFD, 1, 0x04);   // pin is read-only
        assertEquals(0x0B, bus.configRead(0, 1, 0, INTERRUPT_LINE, 2));
    }

    @Test
    void configMechanism1WithoutTheEnableBitDoesNothing() {
        TestDevice dev = new TestDevice("a");
        bus.attach(dev, 1);
        bus.installConfigMechanism1();
        pio.write(CONFIG_ADDRESS, 4, address(0, 1, 0, COMMAND) & 0x7FFF_FFFF);
        assertEquals(0xFFFF_FFFFL, pio.read(CONFIG_DATA, 4), "enable clear: no config read");
        pio.write(CONFIG_DATA, 2, COMMAND_MEMORY);
        assertFalse(dev.memoryDecoding(), "enable clear: no config write");

        pio.write(CONFIG_ADDRESS, 4, address(0, 1, 0, COMMAND));
        pio.write(CONFIG_DATA, 2, COMMAND_MEMORY);
        assertTrue(dev.memoryDecoding());
    }

    @Test
    void configAddressRegisterIsDwordOnly() {
        bus.installConfigMechanism1();
        pio.write(CONFIG_ADDRESS, 4, 0x8000_0000);
        assertEquals(0x8000_0000L, pio.read(CONFIG_ADDRESS, 4), "Linux's type-1 probe reads back what it wrote");
        pio.write(0xCFB, 1, 0x01);
        pio.write(CONFIG_ADDRESS, 2, 0x1234);
        assertEquals(0x8000_0000L, pio.read(CONFIG_ADDRESS, 4), "byte and word writes leave the latch");
        assertEquals(0xFFL, pio.read(0xCFB, 1));
        pio.write(CONFIG_ADDRESS, 4, 0xFFFF_FFFF);
        assertEquals(0x80FF_FFFCL, pio.read(CONFIG_ADDRESS, 4), "reserved bits and bits 1:0 read 0");
        assertThrows(IllegalStateException.class, bus::installConfigMechanism1);
    }

    @Test
    void programmingABarThroughPortIoReachesTheHandlerThroughMmio() {
        RecordingHandler handler = new RecordingHandler(0x4400);
        bus.attach(new TestDevice("a").withBar(0, BarDefinition.mem32(0x1000, handler)), 6);
        bus.installConfigMechanism1();
        pio.write(CONFIG_ADDRESS, 4, address(0, 6, 0, bar(0)));
        pio.write(CONFIG_DATA, 4, 0xFFFF_FFFFL);
        assertEquals(0xFFFF_F000L, pio.read(CONFIG_DATA, 4));
        pio.write(CONFIG_DATA, 4, 0xFEB0_0000L);
        pio.write(CONFIG_ADDRESS, 4, address(0, 6, 0, COMMAND));
        pio.write(CONFIG_DATA, 2, COMMAND_MEMORY);
        assertEquals(0x4408L, mmio.read(0xFEB0_0008L, 4));
    }

    @Test
    void configWriteCompletionReachesThePortWrite() {
        TestDevice dev = new TestDevice("a");
        CompletableFuture<Void> ack = new CompletableFuture<>();
        int cap = dev.config().addCapability(0x09, 4);
        dev.interceptConfig(cap + 2, 2, new ConfigInterceptor() {
            @Override
            public int read(int offsetInRange, int size, int storedValue) {
                return storedValue;
            }

            @Override
            public CompletableFuture<Void> written(int offsetInRange, int size, int value) {
                return ack;
            }
        });
        bus.attach(dev, 1);
        bus.installConfigMechanism1();
        pio.write(CONFIG_ADDRESS, 4, address(0, 1, 0, cap));
        assertSame(ack, pio.write(0xCFE, 2, 1), "the vCPU gets the interceptor's completion to wait on");
    }

    @Test
    void busResetResetsEveryDevice() {
        TestDevice a = new TestDevice("a");
        TestDevice b = new TestDevice("b");
        bus.attach(a, 1);
        bus.attach(b, 2);
        a.configWrite(COMMAND, 2, COMMAND_BUS_MASTER);
        bus.reset();
        assertEquals(1, a.resets);
        assertEquals(1, b.resets);
        assertFalse(a.busMaster());
    }
}
