package io.jvmm.testkit.driver;

import io.jvmm.testkit.driver.pci.Bar;
import io.jvmm.testkit.driver.pci.BarAllocator;
import io.jvmm.testkit.driver.pci.BarKind;
import io.jvmm.testkit.driver.pci.PciConfigAccess;
import io.jvmm.testkit.driver.pci.PciEnumerator;
import io.jvmm.testkit.driver.pci.PciFunction;
import io.jvmm.testkit.driver.pci.PciRegisters;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/** The guest's PCI code on config-space layouts the emulator does not produce (a scripted fake). */
@Timeout(value = 10, unit = TimeUnit.SECONDS)
class PciDriverTest {
    @Test
    void probesOtherFunctionsOnlyOfMultiFunctionDevices() {
        FakePciCpu cpu = new FakePciCpu();
        cpu.add(0, 0, new FakePciCpu.Function(0x8086, 0x1237, 0));
        cpu.add(3, 0, new FakePciCpu.Function(0x1234, 0x0001, 0x80));   // multi-function
        cpu.add(3, 2, new FakePciCpu.Function(0x1234, 0x0002, 0));
        cpu.add(5, 0, new FakePciCpu.Function(0x1234, 0x0003, 0));       // single function ...
        cpu.add(5, 1, new FakePciCpu.Function(0x1234, 0x0004, 0));       // ... so this one is not probed
        List<PciFunction> found = new PciEnumerator(new PciConfigAccess(cpu)).scan(0);
        assertEquals(List.of("00:00.0", "00:03.0", "00:03.2", "00:05.0"),
                found.stream().map(f -> f.address().toString()).toList());
        assertTrue(found.get(1).multiFunction());
        assertEquals(0x0002, found.get(2).deviceId());
    }

    @Test
    void sizesAndPlacesIoMem32AndMem64Bars() {
        FakePciCpu cpu = new FakePciCpu();
        cpu.add(1, 0, new FakePciCpu.Function(0x1234, 0x0010, 0)
                .bar(0, 0x20, 0b1)                 // I/O, 32 ports
                .bar(1, 0x1000, 0)                 // 32-bit memory, 4 KiB
                .bar(2, 1L << 33, 0b1100));        // 64-bit prefetchable memory, 8 GiB (uses BAR3 too)
        cpu.add(2, 0, new FakePciCpu.Function(0x1234, 0x0011, 0).bar(0, 0x100, 0b1).bar(2, 0x4000, 0b100));
        List<PciFunction> fns = new PciEnumerator(new PciConfigAccess(cpu)).scan(0);
        BarAllocator allocator = new BarAllocator();
        List<Bar> a = allocator.assign(fns.get(0));
        List<Bar> b = allocator.assign(fns.get(1));

        assertEquals(3, a.size(), () -> "BARs: " + a);
        assertEquals(new Bar(0, BarKind.IO, 0x20, false, BarAllocator.IO_BASE), a.get(0));
        assertEquals(new Bar(1, BarKind.MEM32, 0x1000, false, BarAllocator.MEM32_BASE), a.get(1));
        assertEquals(new Bar(2, BarKind.MEM64, 1L << 33, true, BarAllocator.MEM64_BASE), a.get(2));
        // The second device's BARs come after the first's, each aligned to its own size.
        assertEquals(BarAllocator.IO_BASE + 0x100, b.get(0).address(), "256 ports aligned to 256 after 32 ports at 0xC000");
        assertEquals(BarAllocator.MEM64_BASE + (1L << 33), b.get(1).address());
        int command = fns.get(0).command();
        assertEquals(PciRegisters.COMMAND_IO | PciRegisters.COMMAND_MEMORY | PciRegisters.COMMAND_BUS_MASTER, command);
        assertEquals((int) (BarAllocator.MEM64_BASE >>> 32), fns.get(0).read32(PciRegisters.BAR0 + 12), "upper half programmed");
    }

    @Test
    void aLoopingCapabilityListIsReportedNotFollowedForever() {
        FakePciCpu cpu = new FakePciCpu();
        FakePciCpu.Function f = cpu.add(1, 0, new FakePciCpu.Function(0x1234, 0x0020, 0));
        f.put16(PciRegisters.STATUS, PciRegisters.STATUS_CAPABILITIES);
        f.put8(PciRegisters.CAPABILITIES_POINTER, 0x40);
        f.put8(0x40, 0x11);
        f.put8(0x41, 0x50);
        f.put8(0x50, 0x09);
        f.put8(0x51, 0x40);   // back to the first
        PciFunction fn = new PciEnumerator(new PciConfigAccess(cpu)).scan(0).get(0);
        GuestDriverException e = assertThrows(GuestDriverException.class, fn::capabilities);
        assertTrue(e.getMessage().contains("loop"), e.getMessage());

        f.put8(0x51, 0x00);
        assertEquals(2, fn.capabilities().size());
        assertEquals(0x50, fn.findCapability(0x09).orElseThrow().offset());
    }
}
