package io.jvmm.emulator.machine;

import io.jvmm.emulator.boot.BootPlan;
import io.jvmm.emulator.boot.Bootloader;
import io.jvmm.emulator.boot.MemoryLayout;
import io.jvmm.chardev.EventContext;
import io.jvmm.emulator.kvm.CpuidEntry;
import io.jvmm.emulator.kvm.Kvm;
import io.jvmm.emulator.kvm.KvmVcpu;
import io.jvmm.emulator.kvm.KvmVm;
import io.jvmm.emulator.kvm.VcpuExitMetrics;
import io.jvmm.emulator.platform.I8042ResetPort;
import io.jvmm.emulator.platform.Serial8250;
import io.jvmm.pci.PciBus;
import io.jvmm.pci.dispatch.IoSpace;
import io.jvmm.pci.mem.GuestMemory;
import io.jvmm.pci.msix.GuestNotifiers;
import io.jvmm.pci.msix.Msix;
import io.jvmm.monitor.HotPlug;
import io.jvmm.monitor.MachineEvent;
import io.jvmm.monitor.MonitorSupport;
import io.jvmm.monitor.MonitoredDevice;
import io.jvmm.monitor.MonitoredMachine;
import io.jvmm.monitor.SupportedMachine;
import io.jvmm.monitor.PciSlot;
import io.jvmm.monitor.RunState;
import java.util.function.ObjLongConsumer;
import io.jvmm.pci.msix.SignalResult;
import io.jvmm.chardev.Registration;
import io.jvmm.chardev.EventFd;
import io.jvmm.platform.BuiltDevice;
import io.jvmm.platform.Machine;
import io.jvmm.platform.OneGuestMachine;
import io.jvmm.platform.MachineServices;
import io.jvmm.platform.MsixMetrics;
import io.jvmm.platform.assembly.MachineAssembly;
import io.jvmm.platform.config.MachineConfig;
import io.jvmm.platform.options.UserError;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;

/**
 * A KVM virtual machine assembled from a {@link MachineConfig}: guest RAM in memfd regions mapped
 * into KVM, the in-kernel irqchip and PIT, a PCI bus whose devices the VMM configures as firmware
 * would, the COM1 UART, the i8042 reset line, and one thread per vCPU. Devices are built through
 * the one assembly path ({@link MachineAssembly}) with this machine's services: MSI-X vectors as
 * irqfd GSI routes ({@link KvmMsixRoutes}, rule 2), I/O events as ioeventfds
 * ({@link KvmIoEventBinder}), RAM BARs as memory slots ({@link KvmRamBars}).
 *
 * <p>A monitor (QMP) sees it as a {@link MonitoredMachine}: {@code stop} parks every vCPU between
 * two KVM_RUNs and {@code cont} lets them go on ({@link VcpuRunControl}); {@code quit} ends it as
 * the guest's own exit does; {@code system_reset} is refused (see {@link #systemReset}); devices
 * cannot be hot-plugged.
 */
public final class KvmMachine implements OneGuestMachine, SupportedMachine, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Machine.class);
    /** Which KVM device node to open (default /dev/kvm); tests point it elsewhere to provoke host errors. */
    public static final String KVM_DEVICE_PROPERTY = "jvmm.kvm.device";

    private final MachineConfig config;
    private final Kvm kvm;
    private final KvmVm vm;
    private final GuestMemory memory;
    private final MemoryLayout layout;
    private final IoSpace mmio = IoSpace.mmio();
    private final IoSpace pio = IoSpace.pio();
    private final PciBus bus = new PciBus(mmio, pio);
    private final KvmMsixRoutes interrupts;
    /** The vectors' irqfds for back-ends; eventfds of others connected as irqfds of their own (ivshmem). */
    private final GuestNotifiers notifiers;
    private final Serial8250 serial;
    private final KvmIoEventBinder ioEvents;
    private final KvmRamBars ramBars;
    private final MeterRegistry meters;
    private final List<BuiltDevice> devices = new CopyOnWriteArrayList<>();
    private final List<KvmVcpu> vcpus = new ArrayList<>();
    private final AtomicReference<MachineExit> exit = new AtomicReference<>();
    private final CountDownLatch exited = new CountDownLatch(1);
    private final MonitorSupport monitor = new MonitorSupport(RunState.PRELAUNCH);
    private final VcpuRunControl control = new VcpuRunControl(monitor, this::kickVcpus, VcpuLoop.WRITE_TIMEOUT.plusSeconds(5));
    private BootPlan bootPlan;

    /** How the machine ended: the process status and why. */
    public record MachineExit(int status, String reason) {
    }

    private KvmMachine(MachineConfig config, OutputStream console, MeterRegistry meters) {
        this.config = config;
        this.meters = meters == null ? new SimpleMeterRegistry() : meters;
        this.layout = new MemoryLayout(config.ramBytes());
        this.kvm = Kvm.open(Path.of(System.getProperty(KVM_DEVICE_PROPERTY, Kvm.DEFAULT_DEVICE.toString())));
        this.vm = kvm.createVm();
        this.memory = layout.allocate();
        this.interrupts = new KvmMsixRoutes(vm);
        this.notifiers = new GuestNotifiers() {
            @Override
            public EventFd notifier(Msix msix, int vector) {
                return interrupts.vectorEventFd(msix, vector);
            }

            @Override
            public Registration connect(Msix msix, int vector, EventFd source, EventContext context,
                                        ObjLongConsumer<SignalResult> seen) {
                return interrupts.connect(msix, vector, source, context, seen);
            }
        };
        this.ioEvents = new KvmIoEventBinder(vm);
        this.ramBars = new KvmRamBars(vm);
        this.serial = new Serial8250(console, level -> vm.setIrqLine(Serial8250.COM1_IRQ, level));
    }

    /** Builds the whole machine; nothing runs until {@link #run()}. */
    public static KvmMachine create(MachineConfig config, OutputStream console) {
        return create(config, console, null);
    }

    /** As {@link #create(MachineConfig, OutputStream)}, with devices' meters in {@code meters}. */
    public static KvmMachine create(MachineConfig config, OutputStream console, MeterRegistry meters) {
        KvmMachine m = new KvmMachine(config, console, meters);
        try {
            m.assemble();
            return m;
        } catch (RuntimeException e) {
            m.close();
            throw e;
        }
    }

    private void assemble() {
        monitor.configure(config);
        vm.setTssAddress(MemoryLayout.KVM_TSS_ADDR);
        vm.setIdentityMapAddress(MemoryLayout.KVM_IDENTITY_MAP_ADDR);
        vm.createIrqchip();
        vm.createPit2();
        vm.mapMemory(memory);

        bus.installConfigMechanism1();
        mmio.addListener(ramBars);
        pio.register("serial0", Serial8250.COM1, 8, serial);
        pio.register("i8042", I8042ResetPort.COMMAND_PORT, 1, new I8042ResetPort(this::requestExit));
        MachineAssembly.assemble(config.devices(), this);
        new PciFirmware(MemoryLayout.MMIO32_START, MemoryLayout.MMIO32_END, layout.mmio64Start(), layout.mmio64End()).assign(bus);

        bootPlan = Bootloader.load(config.kernel(), config.initrd(), config.append(), memory, layout, config.cpus());
        List<CpuidEntry> cpuid = kvm.supportedCpuid();
        for (int i = 0; i < config.cpus(); i++) {
            KvmVcpu vcpu = vm.createVcpu(i);
            VcpuSetup.configure(cpuid, vcpu, i, config.cpus(), bootPlan);
            vcpus.add(vcpu);
            VcpuExitMetrics.register(vcpu, meters);
        }
    }

    public GuestMemory memory() {
        return memory;
    }

    public PciBus bus() {
        return bus;
    }

    /** The devices plugged in, in order. */
    public List<BuiltDevice> devices() {
        return List.copyOf(devices);
    }

    // ---- Machine and MachineServices ----------------------------------------------------------

    @Override
    public String kind() {
        return "kvm";
    }

    /** A PCI function into the next free slot with its I/O events as ioeventfds, ports into the port space. */
    @Override
    public void plug(BuiltDevice device) {
        device.plugInto(bus, pio, ioEvents);
        devices.add(device);
    }

    @Override
    public Msix msix(String deviceId, int vectors, EventContext context) {
        Msix msix = new Msix(deviceId, vectors, interrupts);
        interrupts.attach(msix, context);
        return MsixMetrics.register(msix, meters);
    }

    @Override
    public GuestNotifiers guestNotifiers() {
        return notifiers;
    }

    @Override
    public MeterRegistry meters() {
        return meters;
    }

    /** MSIs the VMM delivered to the guest (through irqfds or KVM_SIGNAL_MSI). */
    public long interruptsDelivered() {
        return interrupts.delivered();
    }

    public List<KvmVcpu> vcpus() {
        return vcpus;
    }

    /** Ends the machine with {@code status} at the guest's request; the first request wins. Safe from any thread. */
    @Override
    public void requestExit(int status, String reason) {
        end(status, reason, true);
    }

    private void end(int status, String reason, boolean byGuest) {
        if (exit.compareAndSet(null, new MachineExit(status, reason))) {
            log.debug("machine exit requested: status {} ({})", status, reason);
            RunState last = switch (status) {
                case ExitStatus.GUEST_CRASHED -> RunState.GUEST_PANICKED;
                case ExitStatus.EMULATION_FAILED -> RunState.INTERNAL_ERROR;
                default -> RunState.SHUTDOWN;
            };
            control.end(last);
            monitor.events().emit(new MachineEvent.Shutdown(byGuest, !byGuest ? "host-qmp-quit"
                    : last == RunState.GUEST_PANICKED ? "guest-panic" : "guest-shutdown"));
            exited.countDown();
            kickVcpus();
        }
    }

    private void kickVcpus() {
        for (KvmVcpu v : vcpus) {
            v.stop();
        }
    }

    // ---- MonitoredMachine ---------------------------------------------------------------------


    /** Parks every vCPU between two KVM_RUNs (their current exit completed first); STOP. */
    @Override
    public MonitorSupport monitorSupport() {
        return monitor;
    }

    @Override
    public void stop() {
        control.stop();
    }

    @Override
    public void cont() {
        control.cont();
    }

    /**
     * Refused: a correct reset re-enters the boot state on every vCPU, and KVM has no reset
     * ioctl, so the VMM would have to reset each vCPU's local APIC, MSRs, FPU/XSAVE state and
     * pending events, and the in-kernel PIC, IOAPIC and PIT, which jvmm does not do yet (a guest
     * reset ends jvmm, as with -no-reboot).
     */
    @Override
    public void systemReset() {
        throw new UserError("system_reset is not supported by jvmm's KVM machine yet: resetting its vCPUs needs their local APIC, "
                + "MSR, FPU and pending-event state and the in-kernel interrupt controllers reset too; quit and start again");
    }

    /** Ends the machine with status 0 (SHUTDOWN, reason host-qmp-quit). */
    @Override
    public void quit() {
        end(ExitStatus.OK, "quit (QMP)", false);
    }

    @Override
    public List<PciSlot> pciSlots() {
        return PciSlot.onBus(bus);
    }

    /** None: the KVM machine has no hot-plug controller for its guest to see devices come and go. */
    @Override
    public Optional<HotPlug> hotPlug() {
        return Optional.empty();
    }


    /** Feeds the host's standard input to the guest's serial port until it ends. */
    public void attachConsoleInput(InputStream in) {
        Thread t = new Thread(() -> {
            byte[] buffer = new byte[256];
            try {
                int n;
                while ((n = in.read(buffer)) > 0) {
                    serial.receive(buffer, n);
                }
            } catch (java.io.IOException e) {
                log.debug("console input ended: {}", e.toString());
            }
        }, "console-input");
        t.setDaemon(true);
        t.start();
    }

    /** Starts every vCPU and waits until the guest ends the machine (or a vCPU fails). */
    public MachineExit run() throws InterruptedException {
        List<Thread> threads = new ArrayList<>();
        for (KvmVcpu vcpu : vcpus) {
            Thread t = new Thread(new VcpuLoop(vcpu, mmio, pio, this, control), "vcpu" + vcpu.id());
            t.setDaemon(true);
            threads.add(t);
        }
        control.starting();
        threads.forEach(Thread::start);
        exited.await();
        for (Thread t : threads) {
            t.join(2000);
            if (t.isAlive()) {
                log.warn("{} did not stop within 2 s", t.getName());
            }
        }
        return exit.get();
    }

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
        ramBars.close();
        interrupts.close();
        for (KvmVcpu v : vcpus) {
            v.close();
        }
        vm.close();
        kvm.close();
        memory.close();
    }
}
