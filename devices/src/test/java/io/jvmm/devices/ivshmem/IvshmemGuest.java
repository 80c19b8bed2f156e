package io.jvmm.devices.ivshmem;

import io.jvmm.testkit.TestMachine;
import io.jvmm.testkit.driver.Guest;
import io.jvmm.testkit.driver.pci.Bar;
import io.jvmm.testkit.driver.pci.MsixDriver;
import io.jvmm.testkit.driver.pci.PciFunction;
import java.util.List;

/**
 * The guest side of an ivshmem function on a no-CPU machine, as a guest written for QEMU drives it
 * (the offsets are written out again here on purpose): found by its PCI ids, BARs placed,
 * registers read and written through BAR0, memory through BAR2, MSI-X through BAR1.
 */
final class IvshmemGuest {
    static final int INTRMASK = 0;
    static final int INTRSTATUS = 4;
    static final int IVPOSITION = 8;
    static final int DOORBELL = 12;

    final TestMachine machine;
    final Guest guest;
    final PciFunction fn;
    final Bar regs;
    final Bar mem;
    final List<Bar> bars;

    IvshmemGuest(TestMachine machine) {
        this.machine = machine;
        this.guest = Guest.of(machine);
        this.fn = guest.enumerate().stream().filter(f -> f.vendorId() == 0x1af4 && f.deviceId() == 0x1110).findFirst()
                .orElseThrow(() -> new AssertionError("no 1af4:1110 function on the bus"));
        this.bars = guest.bars().assign(fn);
        this.regs = bar(0);
        this.mem = bar(2);
    }

    private Bar bar(int index) {
        return bars.stream().filter(b -> b.index() == index).findFirst()
                .orElseThrow(() -> new AssertionError(fn + " has no BAR" + index + ": " + bars));
    }

    long in(int reg) {
        return guest.cpu().readMmio(regs.address() + reg, 4);
    }

    void out(int reg, long value) {
        guest.cpu().writeMmio(regs.address() + reg, 4, value);
    }

    int position() {
        return (int) in(IVPOSITION);
    }

    void ring(int peer, int vector) {
        out(DOORBELL, ((long) peer << 16) | vector);
    }

    long readMem(long offset, int size) {
        return guest.cpu().readMmio(mem.address() + offset, size);
    }

    void writeMem(long offset, int size, long value) {
        guest.cpu().writeMmio(mem.address() + offset, size, value);
    }

    MsixDriver msix() {
        return new MsixDriver(guest.cpu(), fn);
    }
}
