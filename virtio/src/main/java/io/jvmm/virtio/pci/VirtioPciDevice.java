package io.jvmm.virtio.pci;

import io.jvmm.chardev.EventContext;
import io.jvmm.pci.BarDefinition;
import io.jvmm.pci.BarKind;
import io.jvmm.pci.PciDevice;
import io.jvmm.pci.dispatch.IoCompletion;
import io.jvmm.pci.dispatch.IoHandler;
import io.jvmm.pci.mem.GuestMemory;
import io.jvmm.pci.msix.InterruptSink;
import io.jvmm.pci.msix.Msix;
import io.jvmm.virtio.DeviceStatus;
import io.jvmm.virtio.VirtioActivation;
import io.jvmm.virtio.VirtioDevice;
import io.jvmm.virtio.VirtioFault;
import io.jvmm.virtio.VirtioFeatures;
import io.jvmm.virtio.queue.SplitVirtqueue;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.concurrent.CompletableFuture;

import static io.jvmm.virtio.pci.CommonConfigLayout.*;

/**
 * The virtio-pci modern transport (virtio 1.x section 4.1, no legacy interface) around one
 * {@link VirtioDevice}.
 *
 * <p>BAR 1 (32-bit memory) holds the MSI-X table and PBA; BAR 4 (64-bit memory) holds the
 * common configuration, ISR, device configuration and notification regions, each announced by a
 * vendor capability; a PCI_CFG capability gives config-space access to BAR 4.
 *
 * <p>Threads: register accesses come from vCPU threads and are serialised by this object's
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
    static final int ISR_QUEUE = 1;
    static final int ISR_CONFIG = 2;

    private final VirtioDevice device;
    private final GuestMemory memory;
    private final EventContext context;
    private final Msix msix;
    private final QueueRegisters[] queues;
    private final long offeredFeatures;
    private final long virtioBarSize;

    // Transport state, guarded by "this".
    private int deviceFeatureSelect;
    private int driverFeatureSelect;
    private long driverFeatures;
    private int status;
    private int configGeneration;
    private int configVector = QueueRegisters.NO_VECTOR;
    private int queueSelect;
    private boolean resetting;
    private volatile boolean broken;
    private volatile int isr;
    private NotifyBinding notifyBinding;    // guarded by the PCI config lock (BAR mapping runs under it)
    private long boundNotifyBase = -1;

    public VirtioPciDevice(VirtioDevice device, GuestMemory memory, InterruptSink sink) {
        super(device.id(), VENDOR_ID, DEVICE_ID_BASE + device.deviceType(), device.pciClassCode(), 1,
                VENDOR_ID, DEVICE_ID_BASE + device.deviceType());
        this.device = device;
        this.memory = memory;
        this.queues = new QueueRegisters[device.queueCount()];
        for (int i = 0; i < queues.length; i++) {
            queues[i] = new QueueRegisters(device.maxQueueSize());
        }
        this.offeredFeatures = device.deviceFeatures() | device.transportFeatures();
        this.context = EventContext.start(device.typeName() + "-" + device.id());

        this.msix = new Msix(device.id(), queues.length + 1, sink);
        long msixBarSize = powerOfTwoAtLeast(Math.max(4096, 2 * Math.max(msix.tableSize(), msix.pbaSize())));
        long pbaOffset = msixBarSize / 2;
        defineBar(MSIX_BAR, new BarDefinition(BarKind.MEM32, msixBarSize, false, new MsixBar(msix, pbaOffset)));
        msix.install(this, MSIX_BAR, 0, MSIX_BAR, pbaOffset);

        int notifyLength = Math.max(NOTIFY_OFF_MULTIPLIER, queues.length * NOTIFY_OFF_MULTIPLIER);
        this.virtioBarSize = powerOfTwoAtLeast(NOTIFY_OFFSET + notifyLength);
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
        device.attached(new TransportView());
    }

    public VirtioDevice device() {
        return device;
    }

    public Msix msix() {
        return msix;
    }

    public EventContext context() {
        return context;
    }

    public synchronized int status() {
        return status;
    }

    public boolean isBroken() {
        return broken;
    }

    /** Guest-physical address of a queue's notification register (KVM registers an ioeventfd there). */
    public long notifyAddress(int queue) {
        return barAddress(VIRTIO_BAR) + NOTIFY_OFFSET + (long) queue * NOTIFY_OFF_MULTIPLIER;
    }

    /** Where a notification for {@code queue} lands: on the device's context, never on a vCPU. */
    public void queueNotified(int queue) {
        if (context.inContext()) {
            serveQueue(queue);   // an ioeventfd callback: already on the context, no second hop
        } else {
            context.execute(() -> serveQueue(queue));
        }
    }

    /**
     * Hands queue notifications to an accelerator (KVM ioeventfds). From then on, whenever the
     * guest maps the virtio BAR the binding learns each queue's notify address, and when it
     * unmaps or moves it the old addresses are unbound.
     */
    public void bindNotifications(NotifyBinding binding) {
        synchronized (configLock()) {
            this.notifyBinding = binding;
            barRegion(VIRTIO_BAR).ifPresent(region -> bindAll(region.base()));
        }
    }

    @Override
    protected void barMapped(int index, io.jvmm.pci.dispatch.IoRegion region) {
        if (index == VIRTIO_BAR && notifyBinding != null) {
            bindAll(region.base());
        }
    }

    @Override
    protected void barUnmapped(int index, io.jvmm.pci.dispatch.IoRegion region) {
        if (index == VIRTIO_BAR && notifyBinding != null && boundNotifyBase == region.base()) {
            for (int q = 0; q < queues.length; q++) {
                notifyBinding.unbind(q, region.base() + NOTIFY_OFFSET + (long) q * NOTIFY_OFF_MULTIPLIER, 2);
            }
            boundNotifyBase = -1;
        }
    }

    private void bindAll(long barBase) {
        if (boundNotifyBase == barBase) {
            return;
        }
        for (int q = 0; q < queues.length; q++) {
            notifyBinding.bind(q, barBase + NOTIFY_OFFSET + (long) q * NOTIFY_OFF_MULTIPLIER, 2);
        }
        boundNotifyBase = barBase;
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
            return readCommon(offset - COMMON_OFFSET, size);
        }
        if (offset < DEVICE_CFG_OFFSET) {
            return offset == ISR_OFFSET ? readIsr() : 0;
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
            return writeCommon(offset - COMMON_OFFSET, size, value);
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
        int queue = (offset - NOTIFY_OFFSET) / NOTIFY_OFF_MULTIPLIER;
        if (queue < queues.length) {
            queueNotified(queue);
        } else {
            log.debug("{}: notification for queue {} which does not exist", device.id(), queue);
        }
        return IoCompletion.DONE;
    }

    private static long mask(int size) {
        return size == 8 ? -1L : (1L << (8 * size)) - 1;
    }

    private int readIsr() {
        synchronized (this) {
            int value = isr;
            isr = 0;   // reading the ISR acknowledges it
            return value;
        }
    }

    // ---- common configuration --------------------------------------------------------------

    private synchronized long readCommon(int offset, int size) {
        int width = widthAt(offset);
        boolean upperHalf = false;
        if (width == 0 && offset >= QUEUE_DESC && offset < LENGTH && (offset & 7) == 4 && size == 4) {
            width = 8;   // the upper dword of a 64-bit queue address
            offset -= 4;
            upperHalf = true;
        }
        if (width == 0 || (size != width && !(width == 8 && size == 4))) {
            log.debug("{}: common config read of {} bytes at 0x{} ignored", device.id(), size, Integer.toHexString(offset));
            return 0;
        }
        long value = commonField(offset);
        return upperHalf ? value >>> 32 : value & mask(size);
    }

    private long commonField(int offset) {
        QueueRegisters q = selectedQueue();
        switch (offset) {
            case DEVICE_FEATURE_SELECT: return deviceFeatureSelect;
            case DEVICE_FEATURE: return deviceFeatureSelect < 2 ? (offeredFeatures >>> (32 * deviceFeatureSelect)) & 0xffffffffL : 0;
            case DRIVER_FEATURE_SELECT: return driverFeatureSelect;
            case DRIVER_FEATURE: return driverFeatureSelect < 2 ? (driverFeatures >>> (32 * driverFeatureSelect)) & 0xffffffffL : 0;
            case CONFIG_MSIX_VECTOR: return configVector;
            case NUM_QUEUES: return queues.length;
            case DEVICE_STATUS: return status;
            case CONFIG_GENERATION: return configGeneration & 0xff;
            case QUEUE_SELECT: return queueSelect;
            case QUEUE_SIZE: return q == null ? 0 : q.size;
            case QUEUE_MSIX_VECTOR: return q == null ? QueueRegisters.NO_VECTOR : q.vector;
            case QUEUE_ENABLE: return q != null && q.enabled ? 1 : 0;
            case QUEUE_NOTIFY_OFF: return q == null ? 0 : queueSelect;
            case QUEUE_DESC: return q == null ? 0 : q.desc;
            case QUEUE_DRIVER: return q == null ? 0 : q.driver;
            case QUEUE_DEVICE: return q == null ? 0 : q.device;
            default: return 0;
        }
    }

    private QueueRegisters selectedQueue() {
        return queueSelect < queues.length ? queues[queueSelect] : null;
    }

    private synchronized CompletableFuture<Void> writeCommon(int offset, int size, long value) {
        int width = widthAt(offset);
        if (width == 0 && offset >= QUEUE_DESC && offset < LENGTH && (offset & 7) == 4 && size == 4) {
            writeQueueAddressHalf(offset - 4, true, value);
            return IoCompletion.DONE;
        }
        if (width == 8 && size == 4) {
            writeQueueAddressHalf(offset, false, value);
            return IoCompletion.DONE;
        }
        if (width == 0 || size != width) {
            log.warn("{}: common config write of {} bytes at 0x{} does not match a field; ignored",
                    device.id(), size, Integer.toHexString(offset));
            return IoCompletion.DONE;
        }
        if (resetting && offset != DEVICE_STATUS) {
            log.warn("{}: register write at 0x{} while a reset is in progress; ignored", device.id(), Integer.toHexString(offset));
            return IoCompletion.DONE;
        }
        QueueRegisters q = selectedQueue();
        int v = (int) value;
        switch (offset) {
            case DEVICE_FEATURE_SELECT: deviceFeatureSelect = v; break;
            case DRIVER_FEATURE_SELECT: driverFeatureSelect = v; break;
            case DRIVER_FEATURE: writeDriverFeatures(v); break;
            case CONFIG_MSIX_VECTOR: configVector = validVector(v & 0xffff); break;
            case DEVICE_STATUS: return writeStatus(v & 0xff);
            case QUEUE_SELECT: queueSelect = v & 0xffff; break;
            case QUEUE_SIZE: if (q != null && !q.enabled) { q.size = v & 0xffff; } break;
            case QUEUE_MSIX_VECTOR: return q == null ? IoCompletion.DONE : writeQueueVector(q, v & 0xffff);
            case QUEUE_ENABLE: return q == null ? IoCompletion.DONE : enableQueue(q, v & 0xffff);
            case QUEUE_DESC: case QUEUE_DRIVER: case QUEUE_DEVICE:
                writeQueueAddressHalf(offset, false, value);
                writeQueueAddressHalf(offset, true, value >>> 32);
                break;
            default:
                log.debug("{}: write to read-only common config field 0x{} ignored", device.id(), Integer.toHexString(offset));
        }
        return IoCompletion.DONE;
    }

    private void writeQueueAddressHalf(int field, boolean upper, long half) {
        QueueRegisters q = selectedQueue();
        if (q == null || q.enabled) {
            return;   // addresses are fixed once the queue is enabled
        }
        long shift = upper ? 32 : 0;
        long keep = upper ? 0xffffffffL : 0xffffffff00000000L;
        long bits = (half & 0xffffffffL) << shift;
        switch (field) {
            case QUEUE_DESC: q.desc = (q.desc & keep) | bits; break;
            case QUEUE_DRIVER: q.driver = (q.driver & keep) | bits; break;
            case QUEUE_DEVICE: q.device = (q.device & keep) | bits; break;
            default: break;
        }
    }

    /** A vector the device cannot use reads back as NO_VECTOR, telling the driver it failed. */
    private int validVector(int vector) {
        return vector < msix.vectorCount() ? vector : QueueRegisters.NO_VECTOR;
    }

    private void writeDriverFeatures(int value) {
        if ((status & DeviceStatus.FEATURES_OK) != 0) {
            log.warn("{}: driver features written after FEATURES_OK; ignored", device.id());
            return;
        }
        if (driverFeatureSelect < 2) {
            int shift = 32 * driverFeatureSelect;
            driverFeatures = (driverFeatures & ~(0xffffffffL << shift)) | ((value & 0xffffffffL) << shift);
        }
    }

    /** A changed vector of an enabled queue is the device's business too (vhost-user re-wires its call fd). */
    private CompletableFuture<Void> writeQueueVector(QueueRegisters q, int value) {
        int vector = validVector(value);
        int old = q.vector;
        q.vector = vector;
        return q.enabled && vector != old ? device.queueVectorChanged(queueSelect, vector) : IoCompletion.DONE;
    }

    private CompletableFuture<Void> enableQueue(QueueRegisters q, int value) {
        if (value != 1) {
            log.warn("{}: queue_enable written with {} (only 1 is allowed); ignored", device.id(), value);
            return IoCompletion.DONE;
        }
        if (q.enabled) {
            return IoCompletion.DONE;
        }
        int index = queueSelect;
        try {
            q.ring = new SplitVirtqueue(index, memory, q.size, q.maxSize, q.desc, q.driver, q.device,
                    VirtioFeatures.has(driverFeatures, VirtioFeatures.RING_EVENT_IDX),
                    VirtioFeatures.has(driverFeatures, VirtioFeatures.RING_INDIRECT_DESC),
                    () -> raiseQueueInterrupt(index));
            q.enabled = true;
        } catch (VirtioFault fault) {
            markBroken(fault);
            return IoCompletion.DONE;
        }
        return device.queueEnabled(new VirtioDevice.QueueConfig(index, q.size, q.desc, q.driver, q.device, q.vector));
    }

    // ---- device status ---------------------------------------------------------------------

    private CompletableFuture<Void> writeStatus(int value) {
        if (value == 0) {
            return beginReset();
        }
        if (resetting) {
            log.warn("{}: status {} written while the reset is in progress; the driver must wait for status 0",
                    device.id(), DeviceStatus.describe(value));
            return IoCompletion.DONE;
        }
        int added = value & ~status;
        if ((status & ~value & ~DeviceStatus.DEVICE_NEEDS_RESET) != 0) {
            log.warn("{}: driver cleared status bits ({} -> {}) without a reset; ignored",
                    device.id(), DeviceStatus.describe(status), DeviceStatus.describe(value));
            return IoCompletion.DONE;
        }
        if ((added & DeviceStatus.FAILED) != 0) {
            log.warn("{}: driver gave up on the device (status FAILED)", device.id());
        }
        int accepted = value & ~DeviceStatus.DEVICE_NEEDS_RESET | (status & DeviceStatus.DEVICE_NEEDS_RESET);
        if ((added & DeviceStatus.FEATURES_OK) != 0 && !featuresAcceptable()) {
            accepted &= ~DeviceStatus.FEATURES_OK;   // the driver reads it back and sees the refusal
        }
        if ((added & DeviceStatus.DRIVER_OK) != 0 && (accepted & DeviceStatus.FEATURES_OK) == 0) {
            status = accepted & ~DeviceStatus.DRIVER_OK;
            markBroken(new VirtioFault("DRIVER_OK set without FEATURES_OK"));
            return IoCompletion.DONE;
        }
        status = accepted;
        if ((added & DeviceStatus.DRIVER_OK) != 0 && !broken) {
            return activate();
        }
        return IoCompletion.DONE;
    }

    private boolean featuresAcceptable() {
        long unknown = driverFeatures & ~offeredFeatures;
        if (unknown != 0) {
            log.warn("{}: driver accepted features 0x{} that were not offered; FEATURES_OK refused",
                    device.id(), Long.toHexString(unknown));
            return false;
        }
        if (!VirtioFeatures.has(driverFeatures, VirtioFeatures.VERSION_1)) {
            log.warn("{}: driver did not accept VERSION_1 (legacy drivers are not supported); FEATURES_OK refused", device.id());
            return false;
        }
        return true;
    }

    /** DRIVER_OK: the device starts on its context; the vCPU's write completes once it has. */
    private CompletableFuture<Void> activate() {
        long features = driverFeatures;
        SplitVirtqueue[] rings = new SplitVirtqueue[queues.length];
        for (int i = 0; i < queues.length; i++) {
            rings[i] = queues[i].enabled ? queues[i].ring : null;
        }
        Activation activation = new Activation(features, rings);
        return context.submit(() -> {
            CompletableFuture<Void> started = IoCompletion.DONE;
            try {
                started = device.activateAsync(activation);
            } catch (VirtioFault fault) {
                markBroken(fault);
            } catch (RuntimeException bug) {
                log.error("{} {}: internal error; device marked broken", device.typeName(), device.id(), bug);
                markBroken(new VirtioFault("internal error: " + bug));
            }
            if (started.isDone()) {   // in-process devices: all in this one task, as before
                serveActivatedRings(rings);
                return IoCompletion.DONE;
            }
            // The device waits for acknowledgements (vhost-user): the write completes after them.
            return started.thenRunAsync(() -> serveActivatedRings(rings), context);
        }).thenCompose(done -> done);
    }

    /** Buffers the driver added before DRIVER_OK are not lost: look at every ring once. On the context. */
    private void serveActivatedRings(SplitVirtqueue[] rings) {
        synchronized (this) {
            if ((status & DeviceStatus.DRIVER_OK) == 0 || resetting) {
                return;   // reset while the device was starting
            }
        }
        guarded(() -> {
            for (int i = 0; i < rings.length; i++) {
                if (rings[i] != null && !broken) {
                    device.queueNotified(i);
                }
            }
        });
    }

    private CompletableFuture<Void> beginReset() {
        if (resetting || (status == 0 && !broken)) {
            return IoCompletion.DONE;
        }
        resetting = true;
        log.debug("{}: reset requested (status {})", device.id(), DeviceStatus.describe(status));
        context.submit(device::reset).thenCompose(f -> f).whenComplete((ok, error) -> {
            if (error != null) {
                log.error("{}: device reset failed; completing the reset anyway", device.id(), error);
            }
            finishReset();
        });
        return IoCompletion.DONE;   // the driver polls the status until it reads 0
    }

    private synchronized void finishReset() {
        for (QueueRegisters q : queues) {
            q.reset();
        }
        deviceFeatureSelect = 0;
        driverFeatureSelect = 0;
        driverFeatures = 0;
        configVector = QueueRegisters.NO_VECTOR;
        queueSelect = 0;
        isr = 0;
        broken = false;
        status = 0;
        resetting = false;
        log.debug("{}: reset complete", device.id());
    }

    // ---- queue work and faults ---------------------------------------------------------------

    private void serveQueue(int queue) {
        if (broken) {
            return;
        }
        synchronized (this) {
            if ((status & DeviceStatus.DRIVER_OK) == 0 || resetting) {
                return;   // served at activation; nothing to do before it
            }
        }
        guarded(() -> device.queueNotified(queue));
    }

    /** Runs device work on the context, turning a guest mistake into a broken device. */
    private void guarded(Runnable work) {
        try {
            work.run();
        } catch (VirtioFault fault) {
            markBroken(fault);
        } catch (RuntimeException bug) {
            log.error("{} {}: internal error; device marked broken", device.typeName(), device.id(), bug);
            markBroken(new VirtioFault("internal error: " + bug));
        }
    }

    /** DEVICE_NEEDS_RESET + configuration interrupt, logged once; other devices are unaffected. */
    void markBroken(VirtioFault fault) {
        synchronized (this) {
            if (broken) {
                return;
            }
            if (resetting || status == 0) {
                // The driver is resetting, or has reset, the device and polls for status 0 (Linux
                // with no timeout): a fault of the session it ended must not turn that into 0x40.
                // A back-end that is really dead fails the next activation anyway.
                log.warn("{} {}: {} (during or after a reset; the device is reset regardless)",
                        device.typeName(), device.id(), fault.getMessage());
                return;
            }
            // Logged before the status bit is visible: a driver that sees DEVICE_NEEDS_RESET can
            // count on the reason being in the log already.
            log.error("{} {}: {} -- device needs reset", device.typeName(), device.id(), fault.getMessage());
            broken = true;
            status |= DeviceStatus.DEVICE_NEEDS_RESET;
        }
        raiseConfigInterrupt();
    }

    private void raiseQueueInterrupt(int queue) {
        int vector;
        synchronized (this) {
            vector = queues[queue].vector;
        }
        raise(vector, ISR_QUEUE);
    }

    private void raiseConfigInterrupt() {
        int vector;
        synchronized (this) {
            vector = configVector;
        }
        raise(vector, ISR_CONFIG);
    }

    private void raise(int vector, int isrBit) {
        if (msix.isEnabled()) {
            if (vector != QueueRegisters.NO_VECTOR) {
                msix.signal(vector);
            }
            return;
        }
        synchronized (this) {
            isr |= isrBit;   // INTx is not wired yet: the driver sees the cause when it polls the ISR
        }
    }

    @Override
    protected void reset() {
        super.reset();
        synchronized (this) {
            if (status != 0) {
                beginReset();
            }
        }
    }

    /** Stops the device and its context (machine shutdown). */
    public void close() {
        try {
            device.close();
        } finally {
            context.close();
        }
    }

    /** What a device learns about its transport at construction (see {@link VirtioDevice#attached}). */
    private final class TransportView implements VirtioDevice.Transport {
        @Override
        public Msix msix() {
            return msix;
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
            markBroken(fault);
        }
    }

    private final class Activation implements VirtioActivation {
        private final long features;
        private final SplitVirtqueue[] rings;

        Activation(long features, SplitVirtqueue[] rings) {
            this.features = features;
            this.rings = rings;
        }

        @Override
        public long features() {
            return features;
        }

        @Override
        public SplitVirtqueue queue(int index) {
            return index >= 0 && index < rings.length ? rings[index] : null;
        }

        @Override
        public EventContext context() {
            return context;
        }

        @Override
        public void configChanged() {
            synchronized (VirtioPciDevice.this) {
                configGeneration++;
            }
            raiseConfigInterrupt();
        }

        @Override
        public void fail(VirtioFault fault) {
            markBroken(fault);
        }
    }
}
