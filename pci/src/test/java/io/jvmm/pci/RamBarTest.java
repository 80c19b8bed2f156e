package io.jvmm.pci;

import static io.jvmm.pci.ConfigRegisters.*;
import static org.junit.jupiter.api.Assertions.*;

import io.jvmm.chardev.SharedMemory;
import io.jvmm.pci.dispatch.IoRegion;
import io.jvmm.pci.dispatch.IoSpace;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** A BAR that is shared memory: trapped accesses reach the memory, and the space announces it as RAM. */
class RamBarTest {
    private final SharedMemory shm = SharedMemory.create("bar2", 64 * 1024);
    private final IoSpace mmio = IoSpace.mmio();
    private final PciBus bus = new PciBus(mmio, IoSpace.pio());
    private final TestDevice dev = new TestDevice("shm0").withBar(2, BarDefinition.ram(BarKind.MEM64, shm, true));

    @AfterEach
    void close() {
        shm.close();
    }

    @Test
    void accessesThroughTheBarAreTheMemorysBytesBothWays() {
        bus.attach(dev, 3);
        dev.configWrite(bar(2), 4, 0);
        dev.configWrite(bar(3), 4, 0x80);
        dev.configWrite(COMMAND, 2, COMMAND_MEMORY);
        long base = 0x80L << 32;
        mmio.write(base + 8, 8, 0x1122_3344_5566_7788L);
        ByteBuffer host = shm.slice(0, 64 * 1024);
        assertEquals(0x1122_3344_5566_7788L, host.getLong(8), "a guest write is in the host's shared memory");
        host.putInt(0xfffc, 0xCAFEF00D);
        assertEquals(0xCAFEF00DL, mmio.read(base + 0xfffc, 4), "a host write is what the guest reads");
        mmio.write(base + 0x101, 2, 0xABCD);
        assertEquals((short) 0xABCD, host.getShort(0x101), "unaligned too");
        assertEquals(0x1122_3344_5566_7788L, dev.barRead(2, 8, 8), "and through the BAR access of a machine without a bus");
    }

    @Test
    void theSpaceAnnouncesTheBarAsRamWhenMappedAndWhenItGoes() {
        List<String> seen = new ArrayList<>();
        mmio.addListener(new IoSpace.Listener() {
            @Override
            public void regionAdded(IoRegion region) {
                seen.add("+" + (region.ram() == shm ? "ram" : "regs") + " 0x" + Long.toHexString(region.base()));
            }

            @Override
            public void regionRemoved(IoRegion region) {
                seen.add("-0x" + Long.toHexString(region.base()));
            }
        });
        bus.attach(dev, 3);
        dev.configWrite(bar(2), 4, 0xE000_0000);
        dev.configWrite(COMMAND, 2, COMMAND_MEMORY);
        dev.configWrite(COMMAND, 2, 0);
        assertEquals(List.of("+ram 0xe0000000", "-0xe0000000"), seen);
    }

    @Test
    void aRamBarMustBeAPowerOfTwoOfPages() {
        try (SharedMemory odd = SharedMemory.create("odd", 12 * 1024)) {
            assertThrows(IllegalArgumentException.class, () -> BarDefinition.ram(BarKind.MEM32, odd, false));
        }
        assertThrows(IllegalArgumentException.class, () -> dev.addIoEvent(IoEvent.any(2, 0, 4, io.jvmm.chardev.EventFd.create())),
                "registers cannot be I/O events in a RAM BAR");
    }
}
