package io.jvmm.testkit.driver;

import io.jvmm.testkit.TestMachine;
import io.jvmm.pci.mem.GuestMemory;

import java.util.Objects;

/** The CPU of a {@link TestMachine} (the no-CPU accelerator): the test thread plays the vCPU. */
public final class TestMachineCpu implements GuestCpu {
    private final TestMachine machine;

    public TestMachineCpu(TestMachine machine) {
        this.machine = Objects.requireNonNull(machine, "machine");
    }

    @Override
    public int inb(int port) {
        return machine.inb(port);
    }

    @Override
    public int inw(int port) {
        return machine.inw(port);
    }

    @Override
    public int inl(int port) {
        return machine.inl(port);
    }

    @Override
    public void outb(int port, int value) {
        machine.outb(port, value);
    }

    @Override
    public void outw(int port, int value) {
        machine.outw(port, value);
    }

    @Override
    public void outl(int port, int value) {
        machine.outl(port, value);
    }

    @Override
    public long readMmio(long address, int size) {
        return machine.readMmio(address, size);
    }

    @Override
    public void writeMmio(long address, int size, long value) {
        machine.writeMmio(address, size, value);
    }

    @Override
    public GuestMemory memory() {
        return machine.memory();
    }
}
