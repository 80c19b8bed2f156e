package io.jvmm.virtio.pci;

import io.jvmm.chardev.EventContext;
import io.jvmm.chardev.EventFd;
import io.jvmm.chardev.Registration;
import io.jvmm.pci.BarDefinition;
import io.jvmm.pci.BarKind;
import io.jvmm.pci.IoEvent;
import io.jvmm.pci.PciDevice;
import io.jvmm.pci.dispatch.IoCompletion;
import io.jvmm.pci.dispatch.IoHandler;
import io.jvmm.pci.mem.GuestMemory;
import io.jvmm.pci.msix.Msix;
import io.jvmm.pci.msix.MsixVectorObserver;
import io.jvmm.platform.MachineServices;
import io.jvmm.virtio.VirtioDevice;
import io.jvmm.virtio.VirtioFault;
import io.jvmm.virtio.VirtioIdentity;
import io.jvmm.virtio.VirtioInterrupts;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Tags;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The virtio-pci modern transport (virtio 1.x section 4.1, no legacy interface) around one
 * {@link VirtioDevice}: the PCI shell. Registers live in {@link CommonConfig}, the device's life
 * (status, activation, reset, faults) in {@link DeviceLifecycle}.
 *
 * <p>BAR 1 (32-bit memory) holds the MSI-X table and PBA; BAR 4 (64-bit memory) holds the
 * common configuration, ISR, device configuration and notification regions, each announced by a
 * vendor capability; a PCI_CFG capability gives config-space access to BAR 4. Each queue's notify
 * register is an {@link IoEvent}: an ioeventfd under KVM, matched on the trapped write elsewhere,
 * and either way an eventfd the device's event context (or a vhost-user back-end) watches.
 *
 * <p>Threads: register accesses come from vCPU threads and are serialised by the lifecycle's
 * lock; all queue work runs on the device's event context. A guest mistake marks only this device
 * broken (DEVICE_NEEDS_RESET plus a configuration interrupt) until the driver resets it.
 */
public class VirtioPciDevice extends PciDevice {
    private static final Logger log = LoggerFactory.getLogger(VirtioPciDevice.class);

    public static final int VENDOR_ID = 0x1af4;
    public static final int DEVICE_ID_BASE = 0x1040;
    public static final int MSIX_BAR = 1;
    public static final int VIRTIO_BAR = 4;

    static final int COMMON_OFFSET = 0x0000;
    static final int ISR_OFFSET = 0x1000;
    static final int DEVICE_CFG_OFFSET = 0x2000;
    static final int NOTIFY_OFFSET = 0x3000;
    static final int NOTIFY_OFF_MULTIPLIER = 4;
    /** Linux and our guest driver write the queue index as 16 bits (virtio 1.x 4.1.5.2). */
    static final int NOTIFY_WIDTH = 2;

    private final VirtioDevice device;
    private final VirtioIdentity identity;
    private final GuestMemory memory;
    private final EventContext context;
    private final Msix msix;
    private final MachineServices services;
    private final DeviceLifecycle lifecycle;
    private final CommonConfig registers;
    private final EventFd[] kicks;
    private final List<Registration> kickWatches = new ArrayList<>();
    private final List<EventFd> ownKicks = new ArrayList<>();
    private final Counter interrupts;

    public VirtioPciDevice(VirtioDevice device, MachineServices services) {
        super(device.id(), VENDOR_ID, DEVICE_ID_BASE + device.identity().deviceType(), device.identity().pciClassCode(), 1,
                VENDOR_ID, DEVICE_ID_BASE + device.identity().deviceType());
        this.device = device;
        this.identity = device.identity();
        this.services = services;
        this.memory = services.memory();
        this.context = EventContext.start(identity.typeName() + "-" + identity.id());
        try {
            context.setPollMaxNs(device.pollMaxNs());
            int queueCount = device.queueCount();
            this.msix = services.msix(identity.id(), queueCount + 1, context);
            this.interrupts = Counter.builder("jvmm.virtio.interrupts").description("interrupts raised by the device")
                    .tags(Tags.of("device", identity.id(), "type", identity.typeName())).register(services.meters());
            this.lifecycle = new DeviceLifecycle(device, context, msix, memory, interrupts::increment);
            this.registers = lifecycle.registers();
            // A signal that finds MSI-X disabled (a back-end's completion on a guest notifier, one in
            // flight while the guest disabled MSI-X) shows in the ISR, as virtio 1.x 4.1.5.3 wants.
            msix.onDropped(lifecycle::signalDropped);

            long msixBarSize = powerOfTwoAtLeast(Math.max(4096, 2 * Math.max(msix.tableSize(), msix.pbaSize())));
            long pbaOffset = msixBarSize / 2;
            defineBar(MSIX_BAR, new BarDefinition(BarKind.MEM32, msixBarSize, false, new MsixBar(msix, pbaOffset)));
            msix.install(this, MSIX_BAR, 0, MSIX_BAR, pbaOffset);

            int notifyLength = Math.max(NOTIFY_OFF_MULTIPLIER, queueCount * NOTIFY_OFF_MULTIPLIER);
            long virtioBarSize = powerOfTwoAtLeast(NOTIFY_OFFSET + notifyLength);
            defineBar(VIRTIO_BAR, new BarDefinition(BarKind.MEM64, virtioBarSize, true, new VirtioBar()));

            VirtioPciCapabilities caps = new VirtioPciCapabilities(config());
            caps.add(VirtioPciCapability.COMMON_CFG, VIRTIO_BAR, COMMON_OFFSET, CommonConfigLayout.LENGTH);
            caps.addNotify(VIRTIO_BAR, NOTIFY_OFFSET, notifyLength, NOTIFY_OFF_MULTIPLIER);
            caps.add(VirtioPciCapability.ISR_CFG, VIRTIO_BAR, ISR_OFFSET, 1);
            if (device.configSize() > 0) {
                caps.add(VirtioPciCapability.DEVICE_CFG, VIRTIO_BAR, DEVICE_CFG_OFFSET, device.configSize());
            }
            int window = caps.addPciCfgWindow();
            interceptConfig(window + VirtioPciCapability.PCI_CFG_DATA, 4,
                    new PciCfgWindow(config(), window, this::barAccessRead, this::barAccessWrite));
            setInterruptPin(1);

            this.kicks = new EventFd[queueCount];
            for (int q = 0; q < queueCount; q++) {
                kicks[q] = kickFor(q);
                addIoEvent(IoEvent.any(VIRTIO_BAR, NOTIFY_OFFSET + (long) q * NOTIFY_OFF_MULTIPLIER, NOTIFY_WIDTH, kicks[q]));
            }
            device.attached(new TransportView());
        } catch (RuntimeException e) {
            releaseKicks();
            context.close();
            throw e;
        }
    }

    /**
     * The eventfd a notification of {@code queue} signals: the back-end's own kick fd (vhost-user),
     * or one of ours that the device's context serves.
     */
    private EventFd kickFor(int queue) {
        EventFd backendKick = device.notificationEventFd(queue);
        if (backendKick != null) {
            return backendKick;
        }
        EventFd fd = EventFd.create();
        ownKicks.add(fd);
        kickWatches.add(context.addEventFd(fd, identity.id() + " queue " + queue + " notify", n -> lifecycle.serveQueue(queue)));
        return fd;
    }

    private void releaseKicks() {
        kickWatches.forEach(Registration::cancel);
        kickWatches.clear();
        ownKicks.forEach(EventFd::close);
        ownKicks.clear();
    }

    public VirtioDevice device() {
        return device;
    }

    public VirtioIdentity identity() {
        return identity;
    }

    public Msix msix() {
        return msix;
    }

    public EventContext context() {
        return context;
    }

    public int status() {
        return lifecycle.status();
    }

    public boolean isBroken() {
        return lifecycle.isBroken();
    }

    /** Why the device last set DEVICE_NEEDS_RESET (kept after the driver's reset), or null if it never did. */
    public String lastFault() {
        return lifecycle.lastFault();
    }

    /** Guest-physical address of a queue's notification register. */
    public long notifyAddress(int queue) {
        return barAddress(VIRTIO_BAR) + NOTIFY_OFFSET + (long) queue * NOTIFY_OFF_MULTIPLIER;
    }

    private static long powerOfTwoAtLeast(long n) {
        return Long.highestOneBit(n - 1) << 1;
    }

    // ---- BAR 4 ---------------------------------------------------------------------------

    private final class VirtioBar implements IoHandler {
        @Override
        public long read(long offset, int size) {
            return barAccessRead((int) offset, size);
        }

        @Override
        public CompletableFuture<Void> write(long offset, int size, long value) {
            return barAccessWrite((int) offset, size, value);
        }
    }

    private long barAccessRead(int offset, int size) {
        if (offset < ISR_OFFSET) {
            return registers.read(offset - COMMON_OFFSET, size);
        }
        if (offset < DEVICE_CFG_OFFSET) {
            return offset == ISR_OFFSET ? lifecycle.readIsr() : 0;
        }
        if (offset < NOTIFY_OFFSET) {
            int off = offset - DEVICE_CFG_OFFSET;
            if (off + size > device.configSize() || size > 4) {
                return 0;
            }
            return Integer.toUnsignedLong(device.readConfig(off, size)) & mask(size);
        }
        return 0;   // notification registers read as zero
    }

    private CompletableFuture<Void> barAccessWrite(int offset, int size, long value) {
        if (offset < ISR_OFFSET) {
            return registers.write(offset - COMMON_OFFSET, size, value);
        }
        if (offset < DEVICE_CFG_OFFSET) {
            return IoCompletion.DONE;   // ISR is read-only
        }
        if (offset < NOTIFY_OFFSET) {
            int off = offset - DEVICE_CFG_OFFSET;
            if (off + size <= device.configSize() && size <= 4) {
                device.writeConfig(off, size, (int) value);
            }
            return IoCompletion.DONE;
        }
        // A notification of another width than the I/O event's (or through the PCI_CFG window):
        // the same eventfd, so the queue is served the same way.
        int queue = (offset - NOTIFY_OFFSET) / NOTIFY_OFF_MULTIPLIER;
        if (queue < kicks.length) {
            kicks[queue].signal();
        } else {
            log.debug("{}: notification for queue {} which does not exist", identity.id(), queue);
        }
        return IoCompletion.DONE;
    }

    private static long mask(int size) {
        return size == 8 ? -1L : (1L << (8 * size)) - 1;
    }

    @Override
    protected void reset() {
        super.reset();
        synchronized (lifecycle) {
            if (lifecycle.statusLocked() != 0) {
                lifecycle.beginReset();
            }
        }
    }

    /** Queue work runs on the device's context: once a no-op has run there, none that started before is still going. */
    @Override
    public void quiesce() {
        try {
            context.submit(() -> null).get(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            log.warn("{}: the device context did not quiesce: {}", identity.id(), e.toString());
        }
    }

    @Override
    public void guestMemoryChanged(String what) {
        device.guestMemoryChanged(what);
    }

    /** Stops the device and its context (machine shutdown). */
    @Override
    public void close() {
        try {
            device.close();
        } finally {
            releaseKicks();
            context.close();
        }
    }

    /** What a device learns about its transport at construction (see {@link VirtioDevice#attached}). */
    private final class TransportView implements VirtioDevice.Transport {
        private final VirtioInterrupts interruptView = new Interrupts();

        @Override
        public VirtioInterrupts interrupts() {
            return interruptView;
        }

        @Override
        public GuestMemory memory() {
            return memory;
        }

        @Override
        public EventContext context() {
            return context;
        }

        @Override
        public void fail(VirtioFault fault) {
            lifecycle.markBroken(fault);
        }
    }

    /** The device's interrupts: its MSI-X, and the machine's notifiers for its vectors. */
    private final class Interrupts implements VirtioInterrupts {
        @Override
        public int vectorCount() {
            return msix.vectorCount();
        }

        @Override
        public boolean isMasked(int vector) {
            return msix.isMasked(vector);
        }

        @Override
        public void signal(int vector) {
            interrupts.increment();
            msix.signal(vector);   // while MSI-X is disabled the lifecycle's fallback sets the ISR instead
        }

        @Override
        public void signalConfig() {
            lifecycle.raiseConfigInterrupt();
        }

        @Override
        public EventFd notifier(int vector) {
            return services.guestNotifiers().notifier(msix, vector);
        }

        @Override
        public void addMaskObserver(MsixVectorObserver observer) {
            msix.addObserver(observer);
        }
    }
}
