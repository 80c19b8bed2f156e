package io.jvmm.tests.explore;

import io.jvmm.pci.mem.GuestMemory;
import io.jvmm.testkit.TestMachine;
import io.jvmm.testkit.driver.GuestCpu;
import java.util.concurrent.CompletableFuture;

/**
 * The explorer's CPU on a no-CPU machine. The guest operations of a run issue their writes with
 * {@link #mmio} and {@link #pio}, which hand back the completion instead of waiting (the vCPU is
 * then blocked until it completes, see {@link ExplorerGuest}); the {@link GuestCpu} methods, used
 * by the test kit's drivers while probing, wait as a vCPU does, by letting the scheduler run the
 * rest of the machine until the write completes.
 */
final class ExplorerCpu implements GuestCpu {
    private final TestMachine machine;
    private final Scheduler scheduler;

    ExplorerCpu(TestMachine machine, Scheduler scheduler) {
        this.machine = machine;
        this.scheduler = scheduler;
    }

    CompletableFuture<Void> mmio(long address, int size, long value) {
        return machine.mmio().write(address, size, value);
    }

    CompletableFuture<Void> pio(int port, int size, long value) {
        return machine.pio().write(port, size, value);
    }

    private void held(CompletableFuture<Void> f, String what) {
        if (!f.isDone()) {
            scheduler.waitFor(f::isDone, what, scheduler.current());
        }
        f.join();
    }

    @Override
    public int inb(int port) {
        return (int) machine.pio().read(port, 1);
    }

    @Override
    public int inw(int port) {
        return (int) machine.pio().read(port, 2);
    }

    @Override
    public int inl(int port) {
        return (int) machine.pio().read(port, 4);
    }

    @Override
    public void outb(int port, int value) {
        held(pio(port, 1, value & 0xFF), "port write at 0x" + Integer.toHexString(port));
    }

    @Override
    public void outw(int port, int value) {
        held(pio(port, 2, value & 0xFFFF), "port write at 0x" + Integer.toHexString(port));
    }

    @Override
    public void outl(int port, int value) {
        held(pio(port, 4, Integer.toUnsignedLong(value)), "port write at 0x" + Integer.toHexString(port));
    }

    @Override
    public long readMmio(long address, int size) {
        return machine.mmio().read(address, size);
    }

    @Override
    public void writeMmio(long address, int size, long value) {
        held(mmio(address, size, value), "MMIO write at 0x" + Long.toHexString(address));
    }

    @Override
    public GuestMemory memory() {
        return machine.memory();
    }
}
