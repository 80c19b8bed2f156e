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
import io.jvmm.monitor.HotPlug;
import io.jvmm.monitor.MachineEvent;
import io.jvmm.monitor.MonitorSupport;
import io.jvmm.monitor.MonitoredDevice;
import io.jvmm.monitor.SupportedMachine;
import io.jvmm.monitor.PciSlot;
import io.jvmm.monitor.RunState;
import io.jvmm.monitor.qmp.QmpServer;
import io.jvmm.platform.BuiltDevice;
import io.jvmm.platform.InProcessServices;
import io.jvmm.platform.Machine;
import io.jvmm.platform.OneGuestMachine;
import io.jvmm.platform.MachineServices;
import io.jvmm.platform.assembly.MachineAssembly;
import io.jvmm.platform.config.DeviceConfig;
import io.jvmm.platform.config.MachineConfig;
import io.jvmm.platform.options.UserError;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.jvmm.virtio.VirtioDevice;
import io.jvmm.virtio.pci.VirtioPciDevice;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
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
 *
 * <p>It can be monitored over QMP ({@link #startQmp}, or {@code -qmp} given to the builder): {@code
 * stop} pauses its "CPU" (the test's port, MMIO and memory-free accesses then fail until {@code
 * cont}), {@code system_reset} resets every PCI function, {@code quit} closes it, and
 * {@code device_add}/{@code device_del} plug a device into the next free slot (where a guest
 * driver enumerating the bus finds it) or unplug one at once (a surprise removal: the test makes
 * sure its own driver no longer uses it), followed by DEVICE_DELETED.
 */
public final class TestMachine implements OneGuestMachine, SupportedMachine, AutoCloseable {
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
    private final MonitorSupport monitor = new MonitorSupport(RunState.RUNNING);
    private final List<QmpServer> qmpServers = new CopyOnWriteArrayList<>();
    /** QMP's NBD server and exports, where the devices module is on the class path (null otherwise). */
    private final io.jvmm.monitor.BlockExports blockExports = io.jvmm.monitor.BlockExports.createIfAvailable();
    private final AtomicBoolean closed = new AtomicBoolean();

    /** A request to end the machine (isa-debug-exit, QMP quit), recorded for the test to look at. */
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
        monitor.useBlockExports(blockExports);
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

    // ---- monitoring (QMP) ------------------------------------------------------------------

    /** Records the options the machine was built from (the builder does), for the monitor to report. */
    void configured(MachineConfig config) {
        monitor.configure(config);
    }

    /**
     * Serves this machine over QMP on {@code spec} (QEMU's {@code -qmp} syntax:
     * {@code unix:PATH,server=on,wait=off} or {@code tcp:127.0.0.1:PORT,server=on,wait=off});
     * the server is closed with the machine.
     */
    public QmpServer startQmp(String spec) {
        QmpServer server = QmpServer.start(spec, this);
        qmpServers.add(server);
        return server;
    }

    /** The QMP servers started for this machine. */
    public List<QmpServer> qmpServers() {
        return List.copyOf(qmpServers);
    }


    @Override
    public MonitorSupport monitorSupport() {
        return monitor;
    }

    @Override
    public void stop() {
        monitor.pause();
    }

    @Override
    public void cont() {
        monitor.resume("the no-CPU machine");
    }

    /** Resets every PCI function as a reset button would (the run state stays as it is). */
    @Override
    public void systemReset() {
        bus.reset();
        monitor.resetByMonitor();
    }

    /** Ends the machine: SHUTDOWN, an exit request with status 0 recorded, then the machine closes. */
    @Override
    public void quit() {
        exits.add(new ExitRequest(0, "quit (QMP)"));
        monitor.quitByMonitor();
        close();
    }

    @Override
    public List<PciSlot> pciSlots() {
        return PciSlot.onBus(bus);
    }

    @Override
    public Optional<HotPlug> hotPlug() {
        return Optional.of(new HotPlug() {
            @Override
            public MonitoredDevice add(DeviceConfig<?> config) {
                requireOpen();
                BuiltDevice device = MachineAssembly.plug(config, TestMachine.this);
                monitor.hotplugged(config);
                return new MonitoredDevice(config, device, true);
            }

            @Override
            public void remove(String id) {
                unplug(id);
            }
        });
    }

    /** Unplugs PCI device {@code id} at once, closes it, and reports DEVICE_DELETED. */
    public void unplug(String id) {
        BuiltDevice device = devices.stream().filter(d -> d.id().equals(id)).findFirst()
                .orElseThrow(() -> new UserError("no device '" + id + "' in the no-CPU machine"));
        if (!(device instanceof BuiltDevice.Pci pci)) {
            throw new UserError("device '" + id + "' is not a PCI device: only PCI devices can be unplugged");
        }
        bus.detach(pci.device());
        devices.remove(device);
        try {
            device.close();
        } finally {
            monitor.removed(id);
            monitor.events().emit(new MachineEvent.DeviceDeleted(id, MonitoredDevice.PERIPHERAL + "/" + id));
        }
    }


    private void requireOpen() {
        if (closed.get()) {
            throw new UserError("the no-CPU machine is closed");
        }
    }

    /** The "CPU" runs only while the machine runs (QMP stop pauses it). */
    private void requireRunning(String access) {
        RunState state = monitor.state();
        if (state != RunState.RUNNING) {
            throw new IllegalStateException("the no-CPU machine is " + state.qapiName() + ": its CPU cannot do the " + access
                    + (state == RunState.PAUSED ? " until cont (QMP) resumes it" : ""));
        }
    }

    // ---- the "CPU" ------------------------------------------------------------------------

    public int inb(int port) {
        requireRunning("port read");
        return (int) pio.read(port, 1);
    }

    public int inw(int port) {
        requireRunning("port read");
        return (int) pio.read(port, 2);
    }

    public int inl(int port) {
        requireRunning("port read");
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
        requireRunning("port write");
        CompletableFuture<Void> done = pio.write(port, size, Integer.toUnsignedLong(value));
        if (done != IoCompletion.DONE) {   // the common case allocates nothing; the message is made only on failure
            IoCompletion.await(done, writeTimeout, () -> String.format("port write of %d bytes at 0x%x", size, port));
        }
    }

    public long readMmio(long address, int size) {
        requireRunning("MMIO read");
        return mmio.read(address, size);
    }

    public void writeMmio(long address, int size, long value) {
        requireRunning("MMIO write");
        CompletableFuture<Void> done = mmio.write(address, size, value);
        if (done != IoCompletion.DONE) {   // the common case (a doorbell) allocates nothing; the message is made only on failure
            IoCompletion.await(done, writeTimeout, () -> String.format("MMIO write of %d bytes at 0x%x", size, address));
        }
    }

    /** Closes the QMP servers, the devices (last plugged first), then the notifiers and the memory; only once. */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        for (QmpServer q : qmpServers) {
            q.close();
        }
        if (blockExports != null) {
            blockExports.close();
        }
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
