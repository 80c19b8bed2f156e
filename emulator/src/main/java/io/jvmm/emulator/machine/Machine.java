package io.jvmm.emulator.machine;

import io.jvmm.emulator.boot.BootPlan;
import io.jvmm.emulator.boot.Bootloader;
import io.jvmm.emulator.boot.MemoryLayout;
import io.jvmm.emulator.config.DevicePlan;
import io.jvmm.emulator.config.MachineConfig;
import io.jvmm.emulator.kvm.CpuidEntry;
import io.jvmm.emulator.kvm.Kvm;
import io.jvmm.emulator.kvm.KvmVcpu;
import io.jvmm.emulator.kvm.KvmVm;
import io.jvmm.emulator.platform.DebugExitPort;
import io.jvmm.emulator.platform.I8042ResetPort;
import io.jvmm.emulator.platform.Serial8250;
import io.jvmm.pci.PciBus;
import io.jvmm.pci.dispatch.IoSpace;
import io.jvmm.pci.mem.GuestMemory;
import io.jvmm.virtio.pci.VirtioPciDevice;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;

/**
 * A KVM virtual machine assembled from a {@link MachineConfig}: guest RAM in memfd regions mapped
 * into KVM, the in-kernel irqchip and PIT, a PCI bus whose devices the VMM configures as firmware
 * would, the COM1 UART, the i8042 reset line, the debug-exit port, and one thread per vCPU.
 */
public final class Machine implements AutoCloseable {
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
    private final Serial8250 serial;
    private final List<VirtioPciDevice> virtioDevices = new ArrayList<>();
    private final List<KvmVcpu> vcpus = new ArrayList<>();
    private final AtomicReference<MachineExit> exit = new AtomicReference<>();
    private final CountDownLatch exited = new CountDownLatch(1);
    private BootPlan bootPlan;

    /** How the machine ended: the process status and why. */
    public record MachineExit(int status, String reason) {
    }

    private Machine(MachineConfig config, OutputStream console) {
        this.config = config;
        this.layout = new MemoryLayout(config.ramBytes());
        this.kvm = Kvm.open(Path.of(System.getProperty(KVM_DEVICE_PROPERTY, Kvm.DEFAULT_DEVICE.toString())));
        this.vm = kvm.createVm();
        this.memory = layout.allocate();
        this.interrupts = new KvmMsixRoutes(vm);
        this.serial = new Serial8250(console, level -> vm.setIrqLine(Serial8250.COM1_IRQ, level));
    }

    /** Builds the whole machine; nothing runs until {@link #run()}. */
    public static Machine create(MachineConfig config, OutputStream console) {
        Machine m = new Machine(config, console);
        try {
            m.assemble();
            return m;
        } catch (RuntimeException e) {
            m.close();
            throw e;
        }
    }

    private void assemble() {
        vm.setTssAddress(MemoryLayout.KVM_TSS_ADDR);
        vm.setIdentityMapAddress(MemoryLayout.KVM_IDENTITY_MAP_ADDR);
        vm.createIrqchip();
        vm.createPit2();
        vm.mapMemory(memory);

        bus.installConfigMechanism1();
        pio.register("serial0", Serial8250.COM1, 8, serial);
        pio.register("i8042", I8042ResetPort.COMMAND_PORT, 1, new I8042ResetPort(this::requestExit));
        for (DevicePlan plan : config.devices()) {
            if (plan instanceof DevicePlan.DebugExit d) {
                pio.register(d.id(), d.iobase(), d.iosize(), new DebugExitPort(this::requestExit));
            } else {
                VirtioPciDevice pci = new VirtioPciDevice(DeviceBuilder.virtio(plan, interrupts::vectorEventFd), memory, interrupts);
                virtioDevices.add(pci);
                bus.attach(pci, bus.nextFreeSlot());
                interrupts.attach(pci.msix(), pci.context());
                pci.bindNotifications(new IoEventFdBinding(vm, pci));
            }
        }
        new PciFirmware(MemoryLayout.MMIO32_START, MemoryLayout.MMIO32_END, layout.mmio64Start(), layout.mmio64End()).assign(bus);

        bootPlan = Bootloader.load(config.kernel(), config.initrd(), config.append(), memory, layout, config.cpus());
        List<CpuidEntry> cpuid = kvm.supportedCpuid();
        for (int i = 0; i < config.cpus(); i++) {
            KvmVcpu vcpu = vm.createVcpu(i);
            VcpuSetup.configure(cpuid, vcpu, i, config.cpus(), bootPlan);
            vcpus.add(vcpu);
        }
    }

    public GuestMemory memory() {
        return memory;
    }

    public PciBus bus() {
        return bus;
    }

    public List<VirtioPciDevice> virtioDevices() {
        return virtioDevices;
    }

    /** MSIs the VMM delivered to the guest (through irqfds or KVM_SIGNAL_MSI). */
    public long interruptsDelivered() {
        return interrupts.delivered();
    }

    public List<KvmVcpu> vcpus() {
        return vcpus;
    }

    /** Ends the machine with {@code status}; the first request wins. Safe from any thread. */
    public void requestExit(int status, String reason) {
        if (exit.compareAndSet(null, new MachineExit(status, reason))) {
            log.debug("machine exit requested: status {} ({})", status, reason);
            exited.countDown();
            for (KvmVcpu v : vcpus) {
                v.stop();
            }
        }
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
            Thread t = new Thread(new VcpuLoop(vcpu, mmio, pio, this), "vcpu" + vcpu.id());
            t.setDaemon(true);
            threads.add(t);
        }
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
        for (VirtioPciDevice d : virtioDevices) {
            try {
                d.close();
            } catch (RuntimeException e) {
                log.warn("closing {}: {}", d.id(), e.toString());
            }
        }
        interrupts.close();
        for (KvmVcpu v : vcpus) {
            v.close();
        }
        vm.close();
        kvm.close();
        memory.close();
    }
}
