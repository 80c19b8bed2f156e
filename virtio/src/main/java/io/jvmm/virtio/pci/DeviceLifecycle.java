package io.jvmm.virtio.pci;

import io.jvmm.chardev.EventContext;
import io.jvmm.pci.dispatch.IoCompletion;
import io.jvmm.pci.mem.GuestMemory;
import io.jvmm.pci.msix.Msix;
import io.jvmm.pci.msix.SignalResult;
import io.jvmm.virtio.DeviceStatus;
import io.jvmm.virtio.VirtioActivation;
import io.jvmm.virtio.VirtioDevice;
import io.jvmm.virtio.VirtioFault;
import io.jvmm.virtio.VirtioFeatures;
import io.jvmm.virtio.queue.SplitVirtqueue;
import java.util.concurrent.CompletableFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A virtio device's life as its driver sees it (virtio 1.x 2.1 and 3.1): the device status state
 * machine, feature acceptance, activation at DRIVER_OK, the asynchronous reset (status reads 0 only
 * once the device has stopped touching memory), a guest mistake marking the device broken
 * (DEVICE_NEEDS_RESET), and which interrupt a queue or a configuration change raises.
 *
 * <p>This object's monitor guards the transport state, the {@link CommonConfig} registers included.
 * Queue work runs on the device's event context, never under the lock. The request path takes no
 * lock at all: whether the device is running is a volatile copy of the status ({@code serving}),
 * and the vectors an interrupt needs are volatile registers.
 */
final class DeviceLifecycle {
    private static final Logger log = LoggerFactory.getLogger(DeviceLifecycle.class);
    static final int ISR_QUEUE = 1;
    static final int ISR_CONFIG = 2;

    private final VirtioDevice device;
    private final String name;
    private final EventContext context;
    private final Msix msix;
    private final CommonConfig registers;
    private final Runnable interrupted;

    // Guarded by this.
    private int status;
    private int configGeneration;
    private boolean resetting;
    private volatile boolean broken;
    private volatile String lastFault;
    private volatile int isr;
    /** DRIVER_OK set and no reset under way: a copy of the status kept under the lock, read without it. */
    private volatile boolean serving;
    /** The pollers of the current activation, or null. */
    private QueuePollers pollers;

    /** @param interrupted told of every interrupt raised (metrics) */
    DeviceLifecycle(VirtioDevice device, EventContext context, Msix msix, GuestMemory memory, Runnable interrupted) {
        this.device = device;
        this.name = device.identity().typeName() + " " + device.id();
        this.context = context;
        this.msix = msix;
        this.interrupted = interrupted;
        this.registers = new CommonConfig(device, this, memory, device.deviceFeatures() | device.transportFeatures(),
                msix.vectorCount());
    }

    CommonConfig registers() {
        return registers;
    }

    synchronized int status() {
        return status;
    }

    boolean isBroken() {
        return broken;
    }

    /** The message of the last fault that set DEVICE_NEEDS_RESET (kept after a reset), or null. */
    String lastFault() {
        return lastFault;
    }

    // ---- called by CommonConfig with the lock held ------------------------------------------

    int statusLocked() {
        return status;
    }

    int configGenerationLocked() {
        return configGeneration;
    }

    boolean resettingLocked() {
        return resetting;
    }

    boolean featuresLockedIn() {
        return (status & DeviceStatus.FEATURES_OK) != 0;
    }

    CompletableFuture<Void> writeStatusLocked(int value) {
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
            updateServing();
            markBroken(new VirtioFault("DRIVER_OK set without FEATURES_OK"));
            return IoCompletion.DONE;
        }
        status = accepted;
        updateServing();
        if ((added & DeviceStatus.DRIVER_OK) != 0 && !broken) {
            return activate();
        }
        return IoCompletion.DONE;
    }

    private boolean featuresAcceptable() {
        String unavailable = device.unavailableReason();
        if (unavailable != null) {
            log.warn("{}: FEATURES_OK refused: {}", device.id(), unavailable);
            return false;
        }
        long driverFeatures = registers.driverFeatures();
        long unknown = driverFeatures & ~registers.offeredFeatures();
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

    // ---- activation ---------------------------------------------------------------------------

    /** DRIVER_OK: the device starts on its context; the vCPU's write completes once it has. */
    private CompletableFuture<Void> activate() {
        SplitVirtqueue[] rings = registers.enabledRings();
        Activation activation = new Activation(registers.driverFeatures(), rings);
        return context.submit(() -> {
            CompletableFuture<Void> started = IoCompletion.DONE;
            try {
                started = device.activate(activation);
            } catch (VirtioFault fault) {
                markBroken(fault);
            } catch (RuntimeException bug) {
                log.error("{}: internal error; device marked broken", name, bug);
                markBroken(new VirtioFault("internal error: " + bug));
            }
            if (started.isDone()) {   // in-process devices: all in this one task
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
            cancelPollers();
            pollers = new QueuePollers(context, device, name, rings, this::serveQueue);
        }
        guarded(() -> {
            for (int i = 0; i < rings.length; i++) {
                if (rings[i] != null && !broken) {
                    device.queueNotified(i);
                }
            }
        });
    }

    /** Under the lock. */
    private void cancelPollers() {
        if (pollers != null) {
            pollers.cancel();
            pollers = null;
        }
    }

    /** Under the lock, after every change of the status or of the reset flag. */
    private void updateServing() {
        serving = (status & DeviceStatus.DRIVER_OK) != 0 && !resetting;
    }

    /** A notification of {@code queue}, on the device's context: no lock, no allocation. */
    void serveQueue(int queue) {
        if (broken || !serving) {
            return;   // before DRIVER_OK: served at activation; nothing to do
        }
        try {
            device.queueNotified(queue);
        } catch (VirtioFault fault) {
            markBroken(fault);
        } catch (RuntimeException bug) {
            log.error("{}: internal error; device marked broken", name, bug);
            markBroken(new VirtioFault("internal error: " + bug));
        }
    }

    /** Runs device work on the context, turning a guest mistake into a broken device. */
    private void guarded(Runnable work) {
        try {
            work.run();
        } catch (VirtioFault fault) {
            markBroken(fault);
        } catch (RuntimeException bug) {
            log.error("{}: internal error; device marked broken", name, bug);
            markBroken(new VirtioFault("internal error: " + bug));
        }
    }

    // ---- reset ----------------------------------------------------------------------------------

    /** Under the lock: the driver wrote 0, or the PCI function was reset. */
    CompletableFuture<Void> beginReset() {
        if (resetting || (status == 0 && !broken)) {
            return IoCompletion.DONE;
        }
        resetting = true;
        updateServing();
        cancelPollers();
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
        registers.reset();
        isr = 0;
        broken = false;
        status = 0;
        resetting = false;
        updateServing();
        log.debug("{}: reset complete", device.id());
    }

    // ---- faults ---------------------------------------------------------------------------------

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
                log.warn("{}: {} (during or after a reset; the device is reset regardless)", name, fault.getMessage());
                return;
            }
            // Logged before the status bit is visible: a driver that sees DEVICE_NEEDS_RESET can
            // count on the reason being in the log already.
            log.error("{}: {} -- device needs reset", name, fault.getMessage());
            lastFault = fault.getMessage();
            broken = true;
            status |= DeviceStatus.DEVICE_NEEDS_RESET;
        }
        raiseConfigInterrupt();
    }

    // ---- interrupts -------------------------------------------------------------------------------

    /** A queue's interrupt, from the device's context: the vector is a volatile read, no lock. */
    void raiseQueueInterrupt(int queue) {
        raise(registers.queueVector(queue), ISR_QUEUE);
    }

    void raiseConfigInterrupt() {
        raise(registers.configVector(), ISR_CONFIG);
    }

    private void raise(int vector, int isrBit) {
        interrupted.run();
        if (msix.isEnabled()) {
            if (vector != QueueRegisters.NO_VECTOR && msix.signal(vector) == SignalResult.DROPPED && isrBit == ISR_CONFIG) {
                synchronized (this) {
                    isr |= ISR_CONFIG;   // MSI-X was disabled meanwhile (signalDropped set the queue bit)
                }
            }
            return;
        }
        synchronized (this) {
            isr |= isrBit;   // INTx is not wired: the driver sees the cause when it polls the ISR
        }
    }

    /**
     * A signal of {@code vector} found MSI-X disabled: the driver sees its cause in the ISR (virtio
     * 1.x 4.1.5.3; INTx is not wired). Signals that reach MSI-X from outside {@link #raise} (a
     * back-end's completion on a guest notifier, the transport's queue signals) are queue
     * notifications; {@link #raise} adds the configuration bit itself when it loses that race.
     */
    synchronized void signalDropped(int vector) {
        isr |= ISR_QUEUE;
    }

    /** Reading the ISR acknowledges it. */
    synchronized int readIsr() {
        int value = isr;
        isr = 0;
        return value;
    }

    void configChanged() {
        synchronized (this) {
            configGeneration++;
        }
        raiseConfigInterrupt();
    }

    /** What the device gets at DRIVER_OK, valid until the next reset. */
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
            DeviceLifecycle.this.configChanged();
        }

        @Override
        public void fail(VirtioFault fault) {
            markBroken(fault);
        }
    }
}
