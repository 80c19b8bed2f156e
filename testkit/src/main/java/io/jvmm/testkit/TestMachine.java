package io.jvmm.testkit;

import io.jvmm.chardev.EventContext;
import io.jvmm.pci.IoEventBinder;
import io.jvmm.pci.PciBus;
import io.jvmm.pci.PciDevice;
import io.jvmm.pci.dispatch.IoCompletion;
import io.jvmm.pci.dispatch.IoSpace;
import io.jvmm.pci.mem.GuestMemory;
import io.jvmm.pci.msix.GuestNotifiers;
import io.jvmm.pci.msix.Msix;
import io.jvmm.pci.msix.RecordingInterruptSink;
import io.jvmm.platform.BuiltDevice;
import io.jvmm.platform.InProcessServices;
import io.jvmm.platform.Machine;
import io.jvmm.platform.OneGuestMachine;
import io.jvmm.platform.MachineServices;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.jvmm.virtio.VirtioDevice;
import io.jvmm.virtio.pci.VirtioPciDevice;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The no-CPU machine: guest RAM, a PCI bus and devices but no vCPU (like QEMU's qtest). A test
 * plays the CPU: it performs port I/O, MMIO and memory accesses, and a recording interrupt sink
 * captures every MSI the devices deliver. Devices are built into it exactly as into the KVM
 * machine ({@link Machine}, {@link MachineServices}); {@link TestMachineBuilder} makes one from
 * QEMU-style options.
 *
 * <p>An MMIO or port write that hands back a completion (rule 1 in ARCHITECTURE.md) blocks the
 * caller until it completes, exactly as a vCPU would be held; a completion that never comes fails
 * the access after {@link #setWriteTimeout} with an error naming the address.
 *
 * <p>Its services: I/O events are matched on the trapped write (there are no ioeventfds), RAM BARs
 * are reached through their handler (a direct access to the shared memory), guest notifiers are
 * eventfds watched on a context of the machine's.
 */
public final class TestMachine implements OneGuestMachine, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(TestMachine.class);
    public static final long MMIO_SPACE = IoSpace.MMIO_SIZE;

    private final GuestMemory memory;
    private final IoSpace mmio = new IoSpace("mmio", MMIO_SPACE);
    private final IoSpace pio = new IoSpace("pio", IoSpace.PIO_SIZE);
    private final PciBus bus = new PciBus(mmio, pio);
    private final RecordingInterruptSink interrupts = new RecordingInterruptSink();
    private final MeterRegistry meters;
    private final InProcessServices services;
    private final List<BuiltDevice> devices = new CopyOnWriteArrayList<>();
    private final List<ExitRequest> exits = new CopyOnWriteArrayList<>();
    private volatile Duration writeTimeout = DEFAULT_WRITE_BOUND;

    /** A request to end the machine (isa-debug-exit), recorded for the test to look at. */
    public record ExitRequest(int status, String reason) {
    }

    /** A machine with {@code ramBytes} of RAM at guest address 0. */
    public TestMachine(long ramBytes) {
        this(ramBytes, null);
    }

    /**
     * A machine with {@code ramBytes} of RAM whose devices register their meters in {@code meters}
     * (null: a registry of its own), e.g. a Prometheus registry a test serves.
     */
    public TestMachine(long ramBytes, MeterRegistry meters) {
        this.meters = meters == null ? new SimpleMeterRegistry() : meters;
        this.memory = GuestMemory.ofRam("ram", ramBytes);
        this.services = new InProcessServices("no-cpu", memory, interrupts, this.meters,
                (status, reason) -> exits.add(new ExitRequest(status, reason)));
        bus.installConfigMechanism1();
    }

    /** A builder that assembles devices from QEMU-style options. */
    public static TestMachineBuilder builder() {
        return new TestMachineBuilder();
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

    /** The devices plugged in so far, in order. */
    public List<BuiltDevice> devices() {
        return List.copyOf(devices);
    }

    /** The PCI device with id {@code id}. */
    public PciDevice pciDevice(String id) {
        for (BuiltDevice d : devices) {
            if (d instanceof BuiltDevice.Pci pci && pci.id().equals(id)) {
                return pci.device();
            }
        }
        throw new IllegalArgumentException("no PCI device '" + id + "' in this machine (" + devices + ")");
    }

    /** What devices asked of the machine's exit (isa-debug-exit), in order. */
    public List<ExitRequest> exitRequests() {
        return List.copyOf(exits);
    }

    // ---- Machine and MachineServices ----------------------------------------------------------

    @Override
    public String kind() {
        return "no-cpu";
    }

    /** A PCI function into the next free slot (its I/O events matched on the trapped write), ports into the port space. */
    @Override
    public void plug(BuiltDevice device) {
        device.plugInto(bus, pio, IoEventBinder.TRAPPED);
        devices.add(device);
    }

    @Override
    public Msix msix(String deviceId, int vectors, EventContext context) {
        return services.msix(deviceId, vectors, context);
    }

    @Override
    public GuestNotifiers guestNotifiers() {
        return services.guestNotifiers();
    }

    @Override
    public MeterRegistry meters() {
        return meters;
    }

    /** What a test's MMIO or port write waits for at most ({@link #setWriteTimeout}). */
    @Override
    public Duration writeBound() {
        return writeTimeout;
    }

    @Override
    public void requestExit(int status, String reason) {
        services.requestExit(status, reason);
    }

    /** Plugs a virtio device into the next free PCI slot behind the virtio-pci transport. */
    public VirtioPciDevice addVirtio(VirtioDevice device) {
        VirtioPciDevice pci = new VirtioPciDevice(device, this);
        plug(new BuiltDevice.Pci(pci));
        return pci;
    }

    /** Plugs any PCI device into {@code slot}. */
    public void attach(PciDevice device, int slot) {
        bus.attach(device, slot);
        devices.add(new BuiltDevice.Pci(device));
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
        CompletableFuture<Void> done = pio.write(port, size, Integer.toUnsignedLong(value));
        if (done != IoCompletion.DONE) {   // the common case formats no message and allocates nothing
            IoCompletion.await(done, writeTimeout, String.format("port write of %d bytes at 0x%x", size, port));
        }
    }

    public long readMmio(long address, int size) {
        return mmio.read(address, size);
    }

    public void writeMmio(long address, int size, long value) {
        CompletableFuture<Void> done = mmio.write(address, size, value);
        if (done != IoCompletion.DONE) {   // the common case (a doorbell) formats no message and allocates nothing
            IoCompletion.await(done, writeTimeout, String.format("MMIO write of %d bytes at 0x%x", size, address));
        }
    }

    /** Closes the devices (last plugged first), then the notifiers and the memory. */
    @Override
    public void close() {
        List<BuiltDevice> all = new ArrayList<>(devices);
        for (int i = all.size() - 1; i >= 0; i--) {
            try {
                all.get(i).close();
            } catch (RuntimeException e) {
                log.warn("closing {}: {}", all.get(i).id(), e.toString());
            }
        }
        devices.clear();
        services.close();
        memory.close();
    }
}
