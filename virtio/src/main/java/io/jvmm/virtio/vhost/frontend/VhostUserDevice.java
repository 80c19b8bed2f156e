package io.jvmm.virtio.vhost.frontend;

import io.jvmm.chardev.EventFd;
import io.jvmm.pci.dispatch.IoCompletion;
import io.jvmm.pci.msix.MsixVectorObserver;
import io.jvmm.virtio.VirtioActivation;
import io.jvmm.virtio.VirtioDevice;
import io.jvmm.virtio.VirtioFault;
import io.jvmm.virtio.VirtioFeatures;
import io.jvmm.virtio.VirtioIdentity;
import io.jvmm.virtio.VirtioInterrupts;
import io.jvmm.virtio.vhost.ProtocolFeatures;
import io.jvmm.virtio.vhost.VhostUserException;
import io.jvmm.virtio.vhost.VringAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A virtio device whose queues a vhost-user back-end serves: the transport, MSI-X and config
 * space stay here, the rings and their data go to the back-end through shared memory and
 * eventfds. Device types plug in as a {@link VhostUserDeviceModel}.
 *
 * <p>Control flow, after the handshake in {@link #realize} (rule 6):
 * <ul>
 * <li>DRIVER_OK: SET_FEATURES, SET_MEM_TABLE, then per enabled queue SET_VRING_NUM/BASE/ADDR,
 *     SET_VRING_CALL, SET_VRING_ERR and SET_VRING_KICK (which starts the ring), then
 *     SET_VRING_ENABLE when protocol features make rings start disabled. A queue enabled after
 *     DRIVER_OK is set up the same way at its queue_enable.</li>
 * <li>Rule 1: with {@code x-sync-vring} on (the default) every one of those is acknowledged and
 *     the guest's write (DRIVER_OK, queue_enable, MSI-X mask or unmask, queue vector change)
 *     completes only after the acknowledgements; no lock is held while waiting.</li>
 * <li>Rule 2: while a queue's vector is masked the back-end signals a per-queue "masked"
 *     eventfd, watched here and turned into the vector's pending bit; on unmask the guest
 *     notifier ({@link VirtioInterrupts#notifier}: the irqfd under KVM) is re-installed first, and only
 *     once the back-end acknowledged it is the masked eventfd drained and a pending interrupt
 *     delivered. A vector changed after DRIVER_OK is re-wired the same way.</li>
 * <li>Device reset: SET_VRING_ENABLE 0, GET_VRING_BASE (stops each ring), then RESET_DEVICE
 *     (or RESET_OWNER + SET_OWNER); the status reads 0 once the back-end answered.</li>
 * <li>A back-end that dies, stalls past the reply timeout, refuses a message or breaks the
 *     protocol marks the device DEVICE_NEEDS_RESET; the guest's writes still complete.</li>
 * </ul>
 *
 * <p>Threads: hooks arrive on vCPU threads (under the transport or MSI-X lock) and on the device
 * context; the state they share is guarded by one lock that is never held while waiting or
 * sending. Acknowledgements complete on the connection's reader thread.
 */
@SuppressWarnings("try")   // deferSending() scopes are used for their close (sending after the lock), never referenced
public final class VhostUserDevice implements VirtioDevice {
    private static final Logger log = LoggerFactory.getLogger(VhostUserDevice.class);
    private static final long WANTED_PROTOCOL = ProtocolFeatures.bit(ProtocolFeatures.MQ)
            | ProtocolFeatures.bit(ProtocolFeatures.REPLY_ACK) | ProtocolFeatures.bit(ProtocolFeatures.CONFIG)
            | ProtocolFeatures.bit(ProtocolFeatures.RESET_DEVICE);

    private final VhostUserDeviceOptions options;
    private final VhostUserDeviceModel model;
    private final VirtioIdentity identity;
    private final VhostUserMetrics metrics;
    private final VhostUserFrontend frontend;
    private final VhostQueue[] queues;
    private final byte[] config;   // guarded by itself
    private final Object lock = new Object();
    private volatile Transport transport;
    private volatile boolean closed;
    /** Rule 1's switch ({@code x-sync-vring}): read at every control message, so it can be flipped while the device runs. */
    private volatile boolean syncVring;
    private boolean active;   // DRIVER_OK seen and not reset since; guarded by lock
    /**
     * Test-only mutations (the explorer's mutation check switches a rule's real mechanism off to
     * show it finds the violation): set through package-private setters, never by the product.
     */
    private boolean mutationNoAckWait;
    private boolean mutationNoMaskedDrain;

    private VhostUserDevice(VhostUserDeviceOptions options, VhostUserDeviceModel model, VhostUserFrontend frontend, byte[] config,
                            VhostUserMetrics metrics) {
        this.options = options;
        this.model = model;
        this.metrics = metrics;
        this.identity = new VirtioIdentity(options.id(), model.deviceType(), model.typeName(), model.pciClassCode());
        this.frontend = frontend;
        this.config = config;
        this.syncVring = options.syncVring();
        this.queues = new VhostQueue[model.queueCount()];
        for (int i = 0; i < queues.length; i++) {
            queues[i] = new VhostQueue(i);
        }
    }

    /**
     * Connects to the back-end and completes the handshake (features, protocol features, queue
     * count, owner, and the config space if the back-end serves it) before the device exists.
     *
     * @throws VhostUserException naming the back-end and the step, if it cannot be reached in
     *     time, answers wrongly, or lacks what the device needs (VIRTIO_F_VERSION_1, queues, CONFIG)
     */
    public static VhostUserDevice realize(VhostUserDeviceOptions options, VhostUserDeviceModel model) {
        return realize(options, model, VhostUserMetrics.unregistered(options.id()));
    }

    /** As {@link #realize(VhostUserDeviceOptions, VhostUserDeviceModel)}, counting into {@code metrics}. */
    public static VhostUserDevice realize(VhostUserDeviceOptions options, VhostUserDeviceModel model, VhostUserMetrics metrics) {
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(metrics, "metrics");
        return realize(options, model, metrics, VhostUserFrontend.connect(options.id(), options.chardev(), options.replyTimeout()));
    }

    /**
     * As {@link #realize(VhostUserDeviceOptions, VhostUserDeviceModel, VhostUserMetrics)} over a
     * connection made elsewhere (a socketpair, an fd handed over by a manager), which the device
     * owns from here in every outcome; {@code options.chardev()} only names it.
     */
    public static VhostUserDevice realize(VhostUserDeviceOptions options, VhostUserDeviceModel model, VhostUserMetrics metrics,
                                          VhostUserConnection connection) {
        return realize(options, model, metrics, new VhostUserFrontend(connection));
    }

    private static VhostUserDevice realize(VhostUserDeviceOptions options, VhostUserDeviceModel model, VhostUserMetrics metrics,
                                           VhostUserFrontend frontend) {
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(metrics, "metrics");
        try {
            long wanted = model.configFromBackend() ? WANTED_PROTOCOL : WANTED_PROTOCOL & ~ProtocolFeatures.bit(ProtocolFeatures.CONFIG);
            frontend.negotiate(wanted, model.queueCount());
            long features = frontend.backendFeatures();
            if (!VirtioFeatures.has(features, VirtioFeatures.VERSION_1)) {
                throw new VhostUserException(frontend.peer() + ": the back-end does not offer VIRTIO_F_VERSION_1 (features 0x"
                        + Long.toHexString(features) + "), which the modern virtio-pci transport needs");
            }
            byte[] config = model.localConfig();
            if (model.configFromBackend()) {
                if (!frontend.hasProtocolFeature(ProtocolFeatures.CONFIG)) {
                    throw new VhostUserException(frontend.peer() + ": " + model.typeName()
                            + " takes its config space from the back-end, which lacks the CONFIG protocol feature");
                }
                config = awaitConfig(frontend, model.backendConfigSize(), options);
            }
            VhostUserDevice device = new VhostUserDevice(options, model, frontend, config, metrics);
            frontend.connection().onFailure(device::backendFailed);
            log.info("{} {}: connected to {}: features 0x{}, protocol features {}, sync vring {}", model.typeName(), options.id(),
                    frontend.peer(), Long.toHexString(features), ProtocolFeatures.describe(frontend.protocolFeatures()),
                    options.syncVring() ? "on" : "off");
            return device;
        } catch (RuntimeException e) {
            frontend.close();
            throw e;
        }
    }

    private static byte[] awaitConfig(VhostUserFrontend frontend, int size, VhostUserDeviceOptions options) {
        try {
            return frontend.getConfig(0, size).get(options.replyTimeout().toMillis() + 1000, TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            throw e.getCause() instanceof VhostUserException v ? v
                    : new VhostUserException(frontend.peer() + ": GET_CONFIG failed: " + e.getCause(), e.getCause());
        } catch (TimeoutException e) {
            throw new VhostUserException(frontend.peer() + ": no reply to GET_CONFIG within " + options.replyTimeout().toMillis() + " ms");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new VhostUserException(frontend.peer() + ": interrupted during GET_CONFIG", e);
        }
    }

    public VhostUserDeviceOptions options() {
        return options;
    }

    public VhostUserFrontend frontend() {
        return frontend;
    }

    /** Whether SET_VRING_* messages are acknowledged before the guest's write completes (rule 1) now. */
    public boolean syncVring() {
        return syncVring;
    }

    /**
     * Switches rule 1 on or off while the device runs ({@code qom-set ... x-sync-vring}): the
     * next control message the guest causes is sent, and waited for, accordingly. Messages already
     * sent keep the mode they were sent with.
     */
    public void setSyncVring(boolean on) {
        if (syncVring != on) {
            syncVring = on;
            log.info("{}: {} is now {}", options.id(), VhostUserDeviceOptions.SYNC_VRING_PROPERTY, on ? "on" : "off");
        }
    }

    /**
     * Test-only (the explorer's mutation check): rule 1's wait switched off. The guest's writes
     * (DRIVER_OK, queue_enable, MSI-X mask and unmask, vector changes) and the device reset
     * complete without waiting for the back-end's acknowledgements, which are still requested.
     */
    void mutateNoAckWait(boolean on) {
        mutationNoAckWait = on;
    }

    /**
     * Test-only (the explorer's mutation check): rule 2's drain switched off. Leaving the masked
     * notifier, the device stops watching it without delivering what it holds.
     */
    void mutateNoMaskedDrain(boolean on) {
        mutationNoMaskedDrain = on;
    }

    /** What the guest's operation waits for: the acknowledgements, unless rule 1 is mutated away. */
    private CompletableFuture<Void> guestWaitsFor(CompletableFuture<Void> acknowledged) {
        return mutationNoAckWait ? IoCompletion.DONE : acknowledged;
    }

    /**
     * The eventfd the back-end watches for guest notifications of {@code queue}: an accelerator
     * may register it as the queue's ioeventfd so kicks bypass Java entirely.
     */
    public EventFd kickEventFd(int queue) {
        return queue(queue).kick;
    }

    @Override
    public EventFd notificationEventFd(int queue) {
        return kickEventFd(queue);
    }

    private VhostQueue queue(int index) {
        if (index < 0 || index >= queues.length) {
            throw new IllegalArgumentException(options.id() + ": no queue " + index + " (" + queues.length + " queues)");
        }
        return queues[index];
    }

    // ---------------------------------------------------------------- identity and config

    @Override
    public VirtioIdentity identity() {
        return identity;
    }

    /** The device bits the back-end offers that the model lets through (never the vhost-user bit 30). */
    @Override
    public long deviceFeatures() {
        return frontend.backendFeatures() & model.deviceFeatureMask() & ~(1L << ProtocolFeatures.F_PROTOCOL_FEATURES);
    }

    /** Ring features only as far as the back-end implements them. */
    @Override
    public long transportFeatures() {
        return frontend.backendFeatures() & VirtioFeatures.TRANSPORT_OFFERED;
    }

    @Override
    public int queueCount() {
        return model.queueCount();
    }

    @Override
    public int maxQueueSize() {
        return model.maxQueueSize();
    }

    @Override
    public int configSize() {
        return config.length;
    }

    @Override
    public int readConfig(int offset, int size) {
        synchronized (config) {
            int value = 0;
            for (int i = 0; i < size; i++) {
                value |= (config[offset + i] & 0xff) << (8 * i);
            }
            return value;
        }
    }

    /** Kept and forwarded (SET_CONFIG) when the back-end serves the config space; otherwise read-only. */
    @Override
    public void writeConfig(int offset, int size, int value) {
        if (!model.configFromBackend()) {
            log.debug("{}: write to read-only config at {} ignored", options.id(), offset);
            return;
        }
        byte[] bytes = new byte[size];
        synchronized (config) {
            for (int i = 0; i < size; i++) {
                bytes[i] = (byte) (value >>> (8 * i));
                config[offset + i] = bytes[i];
            }
        }
        guard(frontend.setConfig(offset, bytes, true), "SET_CONFIG");
    }

    // ---------------------------------------------------------------- transport hooks

    @Override
    public void attached(Transport transport) {
        this.transport = transport;
        transport.interrupts().addMaskObserver(new MaskObserver());
        for (VhostQueue q : queues) {
            q.errWatch = transport.context().addEventFd(q.err, options.id() + " queue " + q.index + " back-end error notifier",
                    n -> backendSignalledError(q));
        }
    }

    @Override
    public CompletableFuture<Void> queueEnabled(QueueConfig config) {
        List<CompletableFuture<Void>> waits = new ArrayList<>();
        try (var sending = frontend.deferSending()) {
            synchronized (lock) {
                VhostQueue q = queue(config.index());
                q.enabled = true;
                q.size = config.size();
                q.desc = config.desc();
                q.avail = config.avail();
                q.used = config.used();
                q.vector = config.vector();
                if (active && !q.started) {   // a late queue: set it up now, as DRIVER_OK would have
                    startQueue(q, waits);
                    if (frontend.protocolFeaturesNegotiated()) {
                        waits.add(guard(frontend.setVringEnable(q.index, true, syncVring), "SET_VRING_ENABLE"));
                    }
                }
            }
        }
        return guestWaitsFor(IoCompletion.all(waits));
    }

    @Override
    public CompletableFuture<Void> queueVectorChanged(int index, int vector) {
        try (var sending = frontend.deferSending()) {
            synchronized (lock) {
                VhostQueue q = queue(index);
                q.vector = vector;
                return q.started ? guestWaitsFor(rewire(q)) : IoCompletion.DONE;
            }
        }
    }

    @Override
    public CompletableFuture<Void> activate(VirtioActivation activation) {
        boolean sync = syncVring;
        List<CompletableFuture<Void>> waits = new ArrayList<>();
        try (var sending = frontend.deferSending()) {
            synchronized (lock) {
                active = true;
                waits.add(guard(frontend.setFeatures(activation.features(), true), "SET_FEATURES"));
                try {
                    waits.add(guard(frontend.setMemTable(transport.memory()), "SET_MEM_TABLE"));
                } catch (VhostUserException e) {
                    waits.add(guard(CompletableFuture.failedFuture(e), "SET_MEM_TABLE"));
                }
                for (VhostQueue q : queues) {
                    if (q.enabled && !q.started) {
                        startQueue(q, waits);
                    }
                }
                if (frontend.protocolFeaturesNegotiated()) {
                    for (VhostQueue q : queues) {
                        if (q.started) {
                            waits.add(guard(frontend.setVringEnable(q.index, true, sync), "SET_VRING_ENABLE"));
                        }
                    }
                }
            }
        }
        return guestWaitsFor(IoCompletion.all(waits));
    }

    /**
     * Sends a queue's ring set-up (under the lock). The call fd goes before the kick fd: the
     * ring starts at SET_VRING_KICK, and a completion before it knows where to signal would be
     * an interrupt lost.
     */
    private void startQueue(VhostQueue q, List<CompletableFuture<Void>> waits) {
        boolean sync = syncVring;
        var memory = transport.memory();
        long desc = memory.translate(q.desc).hostAddress();
        long avail = memory.translate(q.avail).hostAddress();
        long used = memory.translate(q.used).hostAddress();
        waits.add(guard(frontend.setVringNum(q.index, q.size, sync), "SET_VRING_NUM"));
        waits.add(guard(frontend.setVringBase(q.index, 0, sync), "SET_VRING_BASE"));
        waits.add(guard(frontend.setVringAddr(new VringAddress(q.index, 0, desc, used, avail, 0), sync), "SET_VRING_ADDR"));
        waits.add(rewire(q));
        waits.add(guard(frontend.setVringErr(q.index, q.err, sync), "SET_VRING_ERR"));
        waits.add(guard(frontend.setVringKick(q.index, q.kick, sync), "SET_VRING_KICK"));
        q.started = true;
    }

    @Override
    public void queueNotified(int index) {
        VhostQueue q = queue(index);
        if (q.started && !closed) {
            q.kick.signal();
        }
    }

    @Override
    public CompletableFuture<Void> reset() {
        List<CompletableFuture<?>> waits = new ArrayList<>();
        try (var sending = frontend.deferSending()) {
            synchronized (lock) {
                active = false;
                if (frontend.protocolFeaturesNegotiated()) {
                    for (VhostQueue q : queues) {
                        if (q.started) {
                            waits.add(frontend.setVringEnable(q.index, false, true));
                        }
                    }
                }
                for (VhostQueue q : queues) {
                    if (q.started) {
                        waits.add(frontend.getVringBase(q.index));   // stops the ring
                    }
                    q.started = false;
                    q.callFd = null;
                    if (q.maskedWatch != null) {
                        q.maskedWatch.cancel();
                        q.maskedWatch = null;
                    }
                    q.forgetRing();
                    q.kick.consume();     // stale notifications belong to the old rings
                    q.masked.consume();
                }
                waits.add(frontend.resetDevice());
            }
        }
        // The reset completes however the back-end answers: a dead back-end has been reported
        // already, and the guest must be able to read status 0 and start again.
        CompletableFuture<Void> stopped = CompletableFuture.allOf(waits.toArray(new CompletableFuture<?>[0])).handle((ok, error) -> {
            if (error != null && !closed) {
                log.warn("{}: back-end did not complete the device reset: {}", options.id(), cause(error).getMessage());
            }
            return null;
        });
        return guestWaitsFor(stopped);
    }

    /** A back-end whose connection failed (gone, stalled, broke the protocol) cannot serve a new driver. */
    @Override
    public String unavailableReason() {
        VhostUserException failure = frontend.connection().failure();
        return failure == null ? null : "its vhost-user back-end is gone (" + failure.getMessage() + ")";
    }

    /**
     * The back-end got the memory table at DRIVER_OK and keeps it (and its own mappings) until the
     * device is reset: it may still use a range the machine took away, or not see a new one. QEMU
     * changes its map only while the firmware runs, before any driver starts the device.
     */
    @Override
    public void guestMemoryChanged(String what) {
        boolean running;
        synchronized (lock) {
            running = active;
        }
        if (running) {
            log.warn("{}: {} while the device runs: its vhost-user back-end keeps the memory table of DRIVER_OK until the "
                    + "device is reset", options.id(), what);
        }
    }

    // ---------------------------------------------------------------- rule 2: call fd routing

    private final class MaskObserver implements MsixVectorObserver {
        @Override
        public CompletableFuture<Void> vectorMasked(int vector) {
            return maskChanged(vector);
        }

        @Override
        public CompletableFuture<Void> vectorUnmasked(int vector) {
            return maskChanged(vector);
        }
    }

    /** Called under the MSI-X lock after the vector's state changed: re-routes the queues on it. */
    private CompletableFuture<Void> maskChanged(int vector) {
        List<CompletableFuture<Void>> waits = new ArrayList<>(1);
        try (var sending = frontend.deferSending()) {
            synchronized (lock) {
                for (VhostQueue q : queues) {
                    if (q.started && q.vector == vector) {
                        waits.add(rewire(q));
                    }
                }
            }
        }
        return guestWaitsFor(IoCompletion.all(waits));
    }

    /** Where the queue's completions must go now: none, the masked notifier, or the guest notifier. */
    private EventFd callTarget(VhostQueue q) {
        int vector = q.vector;
        VirtioInterrupts interrupts = transport.interrupts();
        if (vector == VhostQueue.NO_VECTOR || vector >= interrupts.vectorCount()) {
            return null;
        }
        return interrupts.isMasked(vector) ? q.masked : interrupts.notifier(vector);
    }

    /**
     * Points the back-end's call fd where it must go now (under the lock). Leaving the masked
     * notifier, the drain waits for the back-end's acknowledgement: before it, the back-end may
     * still signal the masked notifier, which therefore stays watched.
     *
     * <p>With {@code x-sync-vring=off} this is QEMU's order before its fix (7.2 and older, and
     * later ones whenever the back-end lacks REPLY_ACK): SET_VRING_CALL is written to the socket,
     * then the masked notifier is drained at once, without waiting for the back-end to apply the
     * switch; a completion the back-end signals on the masked notifier in between is lost until
     * the vector is masked again.
     */
    private CompletableFuture<Void> rewire(VhostQueue q) {
        EventFd target = callTarget(q);
        EventFd old = q.callFd;
        if (target == old) {
            return IoCompletion.DONE;
        }
        if (target == q.masked && q.maskedWatch == null) {
            q.maskedWatch = transport.context().addEventFd(q.masked, options.id() + " queue " + q.index + " masked notifier",
                    n -> signalQueueVector(q));
        }
        q.callFd = target;
        String note = target == null ? "no vector" : target == q.masked ? "masked notifier"
                : "guest notifier of vector " + q.vector;
        CompletableFuture<Void> sent = frontend.setVringCall(q.index, target, syncVring, note);
        CompletableFuture<Void> switched = guard(sent, "SET_VRING_CALL");
        if (old == q.masked && target != q.masked) {
            return switched.thenRun(() -> drainMasked(q, !sent.isCompletedExceptionally()));
        }
        return switched;
    }

    /**
     * After the back-end switched away from the masked notifier: stop watching it, deliver what it
     * holds. If the switch was never acknowledged (the connection failed), a back-end that is still
     * alive may go on completing requests on the masked notifier it had: it stays watched until
     * the reset, so those completions still reach the guest (found by the control-plane explorer).
     */
    private void drainMasked(VhostQueue q, boolean acknowledged) {
        if (closed) {
            return;
        }
        synchronized (lock) {
            if (acknowledged && q.callFd != q.masked && q.maskedWatch != null) {
                q.maskedWatch.cancel();
                q.maskedWatch = null;
            }
        }
        if (mutationNoMaskedDrain) {
            return;   // test-only mutation: what the masked notifier holds stays there, undelivered
        }
        if (q.masked.consume() > 0) {
            signalQueueVector(q);
        }
    }

    /** A completion seen on the masked notifier: pending bit while masked, an interrupt otherwise. */
    private void signalQueueVector(VhostQueue q) {
        int vector = q.vector;
        if (vector != VhostQueue.NO_VECTOR) {
            transport.interrupts().signal(vector);
        }
    }

    // ---------------------------------------------------------------- failures

    /**
     * Turns a failed back-end operation into a broken device. The returned future always
     * completes normally (the guest's write goes on), but only after the device is marked.
     */
    private CompletableFuture<Void> guard(CompletableFuture<?> operation, String what) {
        long sent = System.nanoTime();
        return operation.handle((ok, error) -> {
            if (error == null) {
                metrics.acknowledged(sent);
                return IoCompletion.DONE;
            }
            return markBroken(what + " failed: " + cause(error).getMessage());
        }).thenCompose(marked -> marked);
    }

    /**
     * Marks the device broken from its event context: failures surface on threads holding the
     * MSI-X or device lock, and the transport's lock must not be taken under them.
     */
    private CompletableFuture<Void> markBroken(String message) {
        metrics.failed();
        Transport t = transport;
        if (closed || t == null) {
            if (!closed) {
                log.error("{}: {}", options.id(), message);
            }
            return IoCompletion.DONE;
        }
        try {
            return t.context().submit(() -> {
                t.fail(new VirtioFault(message));
                return (Void) null;
            }).exceptionally(e -> null);
        } catch (java.util.concurrent.RejectedExecutionException e) {
            return IoCompletion.DONE;   // shutting down
        }
    }

    private void backendFailed(VhostUserException e) {
        markBroken("vhost-user back-end lost: " + e.getMessage());
    }

    private void backendSignalledError(VhostQueue q) {
        if (q.started && !closed) {
            transport.fail(new VirtioFault(frontend.peer() + " signalled an error on queue " + q.index + " (SET_VRING_ERR notifier)"));
        }
    }

    private static Throwable cause(Throwable t) {
        return (t instanceof CompletionException || t instanceof ExecutionException) && t.getCause() != null ? t.getCause() : t;
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        frontend.close();
        synchronized (lock) {
            for (VhostQueue q : queues) {
                // Watches first: an fd closed under a live registration could pass it to a new fd.
                if (q.maskedWatch != null) {
                    q.maskedWatch.cancel();
                    q.maskedWatch = null;
                }
                if (q.errWatch != null) {
                    q.errWatch.cancel();
                    q.errWatch = null;
                }
                q.close();
            }
        }
        log.debug("{}: closed", options.id());
    }

    @Override
    public String toString() {
        return model.typeName() + " " + options.id() + " (" + frontend.peer() + ")";
    }
}
