package io.jvmm.emulator.accel;

import io.jvmm.pci.PciBus;
import io.jvmm.pci.PciDevice;
import io.jvmm.pci.dispatch.IoCompletion;
import io.jvmm.pci.dispatch.IoSpace;
import io.jvmm.pci.mem.GuestMemory;
import io.jvmm.pci.msix.RecordingInterruptSink;
import io.jvmm.virtio.VirtioDevice;
import io.jvmm.virtio.pci.VirtioPciDevice;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * The test accelerator: a machine with guest RAM, a PCI bus and devices but no vCPU (like QEMU's
 * qtest). A test plays the CPU: it performs port I/O, MMIO and memory accesses, and a recording
 * interrupt sink captures every MSI the devices deliver.
 *
 * <p>An MMIO or port write that hands back a completion (rule 1 in ARCHITECTURE.md) blocks the
 * caller until it completes, exactly as a vCPU would be held; a completion that never comes fails
 * the access after {@link #writeTimeout} with an error naming the address.
 */
public final class TestMachine implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(TestMachine.class);
    public static final long MMIO_SPACE = 1L << 52;

    private final GuestMemory memory;
    private final IoSpace mmio = new IoSpace("mmio", MMIO_SPACE);
    private final IoSpace pio = new IoSpace("pio", 0x10000);
    private final PciBus bus = new PciBus(mmio, pio);
    private final RecordingInterruptSink interrupts = new RecordingInterruptSink();
    private final List<VirtioPciDevice> virtioDevices = new ArrayList<>();
    private Duration writeTimeout = Duration.ofSeconds(30);

    /** A machine with {@code ramBytes} of RAM at guest address 0. */
    public TestMachine(long ramBytes) {
        this.memory = GuestMemory.ofRam("ram", ramBytes);
        bus.installConfigMechanism1();
    }

    public GuestMemory memory() {
        return memory;
    }

    public PciBus bus() {
        return bus;
    }

    public IoSpace mmio() {
        return mmio;
    }

    public IoSpace pio() {
        return pio;
    }

    public RecordingInterruptSink interrupts() {
        return interrupts;
    }

    public void setWriteTimeout(Duration timeout) {
        this.writeTimeout = timeout;
    }

    /** Plugs a virtio device into the next free PCI slot behind the virtio-pci transport. */
    public VirtioPciDevice addVirtio(VirtioDevice device) {
        VirtioPciDevice pci = new VirtioPciDevice(device, memory, interrupts);
        bus.attach(pci, bus.nextFreeSlot());
        virtioDevices.add(pci);
        log.debug("test machine: {} {} in slot {}", device.typeName(), device.id(), pci.slot());
        return pci;
    }

    /** Plugs any PCI device into {@code slot}. */
    public void attach(PciDevice device, int slot) {
        bus.attach(device, slot);
    }

    // ---- the "CPU" ------------------------------------------------------------------------

    public int inb(int port) {
        return (int) pio.read(port, 1);
    }

    public int inw(int port) {
        return (int) pio.read(port, 2);
    }

    public int inl(int port) {
        return (int) pio.read(port, 4);
    }

    public void outb(int port, int value) {
        portWrite(port, 1, value);
    }

    public void outw(int port, int value) {
        portWrite(port, 2, value);
    }

    public void outl(int port, int value) {
        portWrite(port, 4, value);
    }

    private void portWrite(int port, int size, int value) {
        IoCompletion.await(pio.write(port, size, Integer.toUnsignedLong(value)), writeTimeout,
                String.format("port write of %d bytes at 0x%x", size, port));
    }

    public long readMmio(long address, int size) {
        return mmio.read(address, size);
    }

    public void writeMmio(long address, int size, long value) {
        IoCompletion.await(mmio.write(address, size, value), writeTimeout,
                String.format("MMIO write of %d bytes at 0x%x", size, address));
    }

    @Override
    public void close() {
        for (VirtioPciDevice d : virtioDevices) {
            try {
                d.close();
            } catch (RuntimeException e) {
                log.warn("closing {}: {}", d.id(), e.toString());
            }
        }
        memory.close();
    }
}
