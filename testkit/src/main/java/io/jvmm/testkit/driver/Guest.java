package io.jvmm.testkit.driver;

import io.jvmm.testkit.TestMachine;
import io.jvmm.pci.msix.RecordingInterruptSink;
import io.jvmm.testkit.driver.pci.BarAllocator;
import io.jvmm.testkit.driver.pci.PciConfigAccess;
import io.jvmm.testkit.driver.pci.PciEnumerator;
import io.jvmm.testkit.driver.pci.PciFunction;

import java.util.List;
import java.util.Objects;

/**
 * A Java "guest operating system" (like QEMU's libqos): one CPU, a page allocator over its RAM,
 * PCI configuration access, a BAR allocator and an interrupt view. Device drivers are built on it.
 */
public final class Guest {
    /** The guest keeps the first MiB for itself, as a PC does (real-mode area, BIOS). */
    public static final long ALLOCATOR_BASE = 1 << 20;

    private final GuestCpu cpu;
    private final PageAllocator pages;
    private final GuestInterrupts interrupts;
    private final PciConfigAccess config;
    private final BarAllocator bars = new BarAllocator();

    public Guest(GuestCpu cpu, RecordingInterruptSink sink, long ramBytes) {
        this.cpu = Objects.requireNonNull(cpu, "cpu");
        if (ramBytes <= ALLOCATOR_BASE) {
            throw new IllegalArgumentException("guest needs more than 1 MiB of RAM, has " + ramBytes);
        }
        this.pages = new PageAllocator(ALLOCATOR_BASE, ramBytes & ~(PageAllocator.PAGE - 1L));
        this.interrupts = new GuestInterrupts(sink);
        this.config = new PciConfigAccess(cpu);
    }

    /** The guest of a {@link TestMachine}: all of its RAM (at address 0) and its interrupt recorder. */
    public static Guest of(TestMachine machine) {
        return new Guest(new TestMachineCpu(machine), machine.interrupts(), machine.memory().size());
    }

    public GuestCpu cpu() {
        return cpu;
    }

    public PageAllocator pages() {
        return pages;
    }

    public GuestInterrupts interrupts() {
        return interrupts;
    }

    public PciConfigAccess pciConfig() {
        return config;
    }

    public BarAllocator bars() {
        return bars;
    }

    /** Enumerates PCI bus 0. */
    public List<PciFunction> enumerate() {
        return new PciEnumerator(config).scan(0);
    }
}
