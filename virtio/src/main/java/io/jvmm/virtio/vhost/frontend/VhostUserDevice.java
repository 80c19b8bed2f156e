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
import io.jvmm.virtio.queue.SplitVirtqueue;
import io.jvmm.virtio.vhost.VringAddress;
import java.time.Duration;
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
 * <li>A back-end that is gone (end of stream, hang-up, reset or broken pipe on its socket) also
 *     leaves requests in flight: the front-end, which tracks them from the rings while the
 *     back-end lives ({@link InFlightRequests}), completes each with the device type's
 *     {@link ErrorCompletion} and answers later requests the same way, so the guest's processes
 *     get an error instead of hanging. A stalled back-end still maps guest memory and may complete
 *     them later: it is only disconnected.</li>
 * <li>A device whose back-end failed recovers at the driver's reset: the front-end connects again
 *     (client) or accepts a new back-end (server) within {@link #RECONNECT_WAIT} at most and runs the
 *     handshake again; the transport's state stays. Without a new back-end the reset still
 *     completes and the next FEATURES_OK is refused; the reset after that tries again.</li>
 * </ul>
 *
 * <p>Threads: hooks arrive on vCPU threads (under the transport or MSI-X lock) and on the device
 * context; the state they share is guarded by one lock that is never held while waiting or
 * sending. Acknowledgements complete on the connection's reader thread.
 */
@SuppressWarnings("try")   // deferSending() scopes are used for their close (sending after the lock), never referenced
public final class VhostUserDevice implements VirtioDevice {
    private static final Logger log = LoggerFactory.getLogger(VhostUserDevice.class);
    /** The longest a reset waits for a new back-end after the old one failed. */
    public static final Duration RECONNECT_WAIT = Duration.ofSeconds(2);
    /** False for a device realized over a connection made elsewhere: a reset cannot connect again. */
    private volatile boolean reconnectable = true;
    private static final long WANTED_PROTOCOL = ProtocolFeatures.bit(ProtocolFeatures.MQ)
            | ProtocolFeatures.bit(ProtocolFeatures.REPLY_ACK) | ProtocolFeatures.bit(ProtocolFeatures.CONFIG)
            | ProtocolFeatures.bit(ProtocolFeatures.RESET_DEVICE);

    private final VhostUserDeviceOptions options;
    private final VhostUserDeviceModel model;
    private final VirtioIdentity identity;
    private final VhostUserMetrics metrics;
    private volatile VhostUserFrontend frontend;
    private final VhostQueue[] queues;
    private final byte[] config;   // guarded by itself
    private final Object lock = new Object();
    private volatile Transport transport;
    private volatile boolean closed;
    /** Rule 1's switch ({@code x-sync-vring}): read at every control message, so it can be flipped while the device runs. */
    private volatile boolean syncVring;
    private boolean active;   // DRIVER_OK seen and not reset since; guarded by lock
    private long features;    // the driver's, at DRIVER_OK; guarded by lock
    private InFlightRequests inFlight;   // from attached()
    private volatile String reconnectFailure;
    private final java.util.concurrent.atomic.AtomicLong maskedDrainDeliveries = new java.util.concurrent.atomic.AtomicLong();
    /** Threads listening again for a back-end after a failure (server chardev); close() waits for them. */
    private final java.util.Set<Thread> relisteners = java.util.concurrent.ConcurrentHashMap.newKeySet();
    private static final java.time.Duration RELISTEN_JOIN = java.time.Duration.ofSeconds(5);
    /** Server chardev: where a new back-end can connect after the old one failed; guarded by lock. */
    private VhostUserConnection standby;
    private final Object listenLock = new Object();
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
        VhostUserDevice device = realize(options, model, metrics, new VhostUserFrontend(connection));
        device.reconnectable = false;   // nothing to connect to again: the chardev only names the connection
        return device;
    }

    private static VhostUserDevice realize(VhostUserDeviceOptions options, VhostUserDeviceModel model, VhostUserMetrics metrics,
                                           VhostUserFrontend frontend) {
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(metrics, "metrics");
        try {
            byte[] config = handshake(frontend, options, model);
            VhostUserDevice device = new VhostUserDevice(options, model, frontend, config, metrics);
            device.watch(frontend);
            log.info("{} {}: connected to {}: features 0x{}, protocol features {}, sync vring {}", model.typeName(), options.id(),
                    frontend.peer(), Long.toHexString(frontend.backendFeatures()), ProtocolFeatures.describe(frontend.protocolFeatures()),
                    options.syncVring() ? "on" : "off");
            return device;
        } catch (RuntimeException e) {
            frontend.close();
            throw e;
        }
    }

    /** The session handshake and what the device needs of it; returns the config space. */
    private static byte[] handshake(VhostUserFrontend frontend, VhostUserDeviceOptions options, VhostUserDeviceModel model) {
        long wanted = model.configFromBackend() ? WANTED_PROTOCOL : WANTED_PROTOCOL & ~ProtocolFeatures.bit(ProtocolFeatures.CONFIG);
        frontend.negotiate(wanted, model.queueCount());
        long features = frontend.backendFeatures();
        if (!VirtioFeatures.has(features, VirtioFeatures.VERSION_1)) {
            throw new VhostUserException(frontend.peer() + ": the back-end does not offer VIRTIO_F_VERSION_1 (features 0x"
                    + Long.toHexString(features) + "), which the modern virtio-pci transport needs");
        }
        if (!model.configFromBackend()) {
            return model.localConfig();
        }
        if (!frontend.hasProtocolFeature(ProtocolFeatures.CONFIG)) {
            throw new VhostUserException(frontend.peer() + ": " + model.typeName()
                    + " takes its config space from the back-end, which lacks the CONFIG protocol feature");
        }
        return awaitConfig(frontend, model.backendConfigSize(), options);
    }

    /** Failures of this connection break the device (those of a connection replaced since are old news). */
    private void watch(VhostUserFrontend f) {
        f.connection().onFailure(e -> {
            if (f == frontend) {
                backendFailed(f, e);
            }
        });
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
        return deviceFeatures(frontend);
    }

    private long deviceFeatures(VhostUserFrontend f) {
        return f.backendFeatures() & model.deviceFeatureMask() & ~(1L << ProtocolFeatures.F_PROTOCOL_FEATURES);
    }

    /** Ring features only as far as the back-end implements them. */
    @Override
    public long transportFeatures() {
        return transportFeatures(frontend);
    }

    private static long transportFeatures(VhostUserFrontend f) {
        return f.backendFeatures() & VirtioFeatures.TRANSPORT_OFFERED;
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
        this.inFlight = new InFlightRequests(options.id(), transport.context(), model.errorCompletion(), metrics);
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
                features = activation.features();
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
        track(q);   // before SET_VRING_KICK leaves (sending is deferred until the lock is released)
        waits.add(guard(frontend.setVringKick(q.index, q.kick, sync), "SET_VRING_KICK"));
        q.started = true;
    }

    /** Hands the started ring to the in-flight tracking (under the lock). */
    private void track(VhostQueue q) {
        try {
            SplitVirtqueue ring = new SplitVirtqueue(q.index, transport.memory(), q.size, model.maxQueueSize(), q.desc, q.avail, q.used,
                    VirtioFeatures.has(features, VirtioFeatures.RING_EVENT_IDX),
                    VirtioFeatures.has(features, VirtioFeatures.RING_INDIRECT_DESC), () -> signalQueueVector(q));
            inFlight.queueStarted(q, ring);
        } catch (RuntimeException e) {
            log.warn("{}: queue {}: requests in flight are not tracked ({}); a dead back-end would leave them outstanding",
                    options.id(), q.index, e.getMessage());
        }
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
        if (inFlight != null) {
            inFlight.stop();   // on the context, as the tracking: the rings are the driver's again
        }
        VhostUserFrontend frontend = this.frontend;
        boolean failedBefore = frontend.connection().failure() != null;   // its reset messages fail at once: nothing to report
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
            if (error != null && !closed && !failedBefore) {
                log.warn("{}: back-end did not complete the device reset: {}", options.id(), cause(error).getMessage());
            }
            return (Void) null;
        }).thenCompose(done -> {
            if (frontend.connection().failure() == null || closed) {
                return IoCompletion.DONE;
            }
            if (!reconnectable) {
                log.warn("{}: its back-end failed and its connection was handed over (not made from the chardev): no new back-end"
                        + " can be connected; the device stays unavailable", options.id());
                return IoCompletion.DONE;
            }
            return reconnect(frontend);
        });
        return guestWaitsFor(stopped);
    }

    /**
     * A new back-end for a device whose back-end failed, on a thread of its own (connecting waits):
     * the same chardev, at most {@link #RECONNECT_WAIT}, the full handshake; the new back-end must
     * offer every feature the device offered the guest. Always completes normally: without a new
     * back-end the device stays unavailable (FEATURES_OK refused) until the next reset tries again.
     */
    private CompletableFuture<Void> reconnect(VhostUserFrontend failed) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        Thread t = new Thread(() -> {
            try {
                VhostUserFrontend fresh = connectAgain(failed);
                synchronized (lock) {
                    if (closed || frontend != failed) {
                        fresh.close();
                        return;
                    }
                    frontend = fresh;
                }
                watch(fresh);
                failed.close();
                reconnectFailure = null;
                metrics.reconnected();
                log.info("{} {}: reconnected at the device reset to {}: features 0x{}, protocol features {}", model.typeName(), options.id(),
                        fresh.peer(), Long.toHexString(fresh.backendFeatures()), ProtocolFeatures.describe(fresh.protocolFeatures()));
            } catch (RuntimeException e) {
                reconnectFailure = e.getMessage();
                log.warn("{}: no new vhost-user back-end at the device reset: {}; the device stays unavailable until a reset finds one",
                        options.id(), e.getMessage());
            } finally {
                done.complete(null);
            }
        }, "vhost-reconnect-" + options.id());
        t.setDaemon(true);
        t.start();
        return done;
    }

    private VhostUserFrontend connectAgain(VhostUserFrontend failed) {
        var spec = options.chardev();
        VhostUserFrontend fresh;
        if (spec.server()) {
            VhostUserConnection listening = listenAgain(failed);
            if (!listening.awaitConnected(RECONNECT_WAIT)) {
                throw new VhostUserException(listening.peer() + ": no back-end connected within " + RECONNECT_WAIT.toMillis()
                        + " ms (still listening: one that connects now is taken at the next reset)");
            }
            synchronized (lock) {
                if (standby == listening) {
                    standby = null;   // taken
                }
            }
            fresh = new VhostUserFrontend(listening);
        } else {
            if (spec.connectTimeout().compareTo(RECONNECT_WAIT) > 0) {
                spec = spec.withConnectTimeout(RECONNECT_WAIT);
            }
            fresh = VhostUserFrontend.connect(options.id(), spec, options.replyTimeout());
        }
        try {
            byte[] newConfig = handshake(fresh, options, model);
            long offered = deviceFeatures(failed) | transportFeatures(failed);
            long missing = offered & ~(deviceFeatures(fresh) | transportFeatures(fresh));
            if (missing != 0) {
                throw new VhostUserException(fresh.peer() + ": the new back-end lacks features 0x" + Long.toHexString(missing)
                        + " that the device offers the guest (offered 0x" + Long.toHexString(offered) + ")");
            }
            if (newConfig.length != config.length) {
                throw new VhostUserException(fresh.peer() + ": the new back-end's config space has " + newConfig.length
                        + " bytes, the device's " + config.length);
            }
            synchronized (config) {
                System.arraycopy(newConfig, 0, config, 0, config.length);
            }
            return fresh;
        } catch (RuntimeException e) {
            fresh.close();
            throw e;
        }
    }

    /**
     * Server chardev: the listening connection a new back-end connects to, made once the failed
     * connection (whose chardev removes the socket file when it closes) is closed. Any thread but
     * the failed connection's own.
     */
    private VhostUserConnection listenAgain(VhostUserFrontend failed) {
        failed.close();
        // One listener at a time: the failure's early listener and a reset's reconnect both come
        // here; a second bind would find the first one live by connecting to it (its probe then
        // taken for a back-end that hangs up at once) and fail.
        synchronized (listenLock) {
            return listenAgainLocked();
        }
    }

    private VhostUserConnection listenAgainLocked() {
        VhostUserConnection dead = null;
        synchronized (lock) {
            if (standby != null && standby.isHealthy()) {
                return standby;
            }
            dead = standby;   // a back-end connected and left again
            standby = null;
        }
        if (dead != null) {
            dead.close();
        }
        VhostUserConnection c = VhostUserConnection.listen(options.id(), options.chardev(), options.replyTimeout());
        synchronized (lock) {
            if (closed || standby != null && standby.isHealthy()) {
                c.close();
                if (closed) {
                    throw new VhostUserException(options.id() + ": device closed");
                }
                return standby;
            }
            standby = c;
        }
        log.info("{}: listening on {} for a new vhost-user back-end (taken at the driver's next reset)", options.id(),
                options.chardev().path());
        return c;
    }

    /** A back-end whose connection failed (gone, stalled, broke the protocol) cannot serve a new driver. */
    @Override
    public String unavailableReason() {
        VhostUserException failure = frontend.connection().failure();
        if (failure == null) {
            return null;
        }
        String again = reconnectFailure;
        return "its vhost-user back-end is gone (" + failure.getMessage() + ")"
                + (again == null ? "" : "; no new back-end at the last reset: " + again);
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
            boolean acked = syncVring;
            return switched.thenRun(() -> drainMasked(q, !sent.isCompletedExceptionally(), acked));
        }
        return switched;
    }

    /**
     * After the back-end switched away from the masked notifier: deliver what it holds. When the
     * switch was acknowledged ({@code acked}: x-sync-vring on), the watch made at the first mask
     * stays until the device reset: the back-end no longer signals the masked notifier, so it costs
     * nothing, and keeping it saves an epoll registration and removal on every mask+unmask
     * (issue 14). Watch and drain both consume the eventfd, so each completion is delivered once,
     * by whichever sees it. If the switch never completed (the connection failed), a back-end that
     * is still alive may go on completing requests on the masked notifier it had: the watch
     * delivers those too (found by the control-plane explorer).
     *
     * <p>With x-sync-vring=off the switch was only written, not acknowledged, and the watch goes
     * at once, as it did in QEMU before its fix: a completion the back-end signals on the masked
     * notifier after this drain is lost until the vector is masked again (the switch's purpose).
     */
    private void drainMasked(VhostQueue q, boolean sentOk, boolean acked) {
        if (closed) {
            return;
        }
        if (sentOk && (!acked || mutationNoMaskedDrain)) {
            synchronized (lock) {
                if (q.callFd != q.masked && q.maskedWatch != null) {
                    q.maskedWatch.cancel();
                    q.maskedWatch = null;
                }
            }
        }
        if (mutationNoMaskedDrain) {
            return;   // test-only mutation: what the masked notifier holds stays there, undelivered
        }
        if (q.masked.consume() > 0) {
            maskedDrainDeliveries.incrementAndGet();
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

    private void backendFailed(VhostUserFrontend f, VhostUserException e) {
        boolean gone = !closed && inFlight != null && f.connection().peerGone();
        boolean shuttingDown = false;
        if (gone) {
            // The requests in flight are answered before DEVICE_NEEDS_RESET is set (both tasks run
            // on the transport's context, in this order): a driver that sees the status finds every
            // one of them in the used ring already. The other order let a driver that checks the
            // status while it waits give up on requests whose error replies were a moment away.
            try {
                transport.context().execute(options.id() + " requests in flight of a dead back-end",
                        () -> inFlight.takeOver("vhost-user back-end gone (" + e.getMessage() + ")"));
            } catch (java.util.concurrent.RejectedExecutionException closing) {
                shuttingDown = true;   // the machine is closing: nobody waits for the requests any more
            }
        }
        markBroken("vhost-user back-end lost: " + e.getMessage());
        if (closed || inFlight == null || shuttingDown) {
            return;
        }
        try {
            if (!gone && f.connection().peerPid() > 0) {
                // Still there (stalled, or broke the protocol): it may still complete requests.
                inFlight.takeOverWhenExited(f.connection().peerPid(), "vhost-user back-end disconnected (" + e.getMessage() + ")");
            }
        } catch (java.util.concurrent.RejectedExecutionException closing) {
            return;   // the machine is closing: nobody waits for the requests any more
        }
        if (options.chardev().server()) {
            // Listen again at once, so a back-end restarted before the driver's reset can connect.
            Thread t = new Thread(() -> {
                try {
                    listenAgain(f);
                } catch (RuntimeException ex) {
                    if (!closed) {
                        log.warn("{}: cannot listen for a new vhost-user back-end: {}", options.id(), ex.getMessage());
                    }
                } finally {
                    relisteners.remove(Thread.currentThread());
                }
            }, "vhost-listen-" + options.id());
            t.setDaemon(true);
            relisteners.add(t);
            t.start();
        }
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
        // A listener made after a failure must not outlive the device: one still binding would
        // create the socket file after close() returned (and remove it a moment later).
        for (Thread t : relisteners) {
            if (t != Thread.currentThread()) {
                try {
                    t.join(RELISTEN_JOIN.toMillis());
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
                if (t.isAlive()) {
                    log.warn("{}: the thread listening for a new back-end did not end within {} ms", options.id(), RELISTEN_JOIN.toMillis());
                }
            }
        }
        VhostUserConnection listening;
        synchronized (lock) {
            listening = standby;
            standby = null;
        }
        if (listening != null) {
            listening.close();
        }
        stopTracking();
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

    /** Cancels the in-flight watches (on the context) before the kick fds they watch are closed. */
    private void stopTracking() {
        Transport t = transport;
        if (t == null || inFlight == null) {
            return;
        }
        if (t.context().inContext()) {
            inFlight.stop();
            return;
        }
        try {
            CompletableFuture<Void> stopped = t.context().submit(() -> {
                inFlight.stop();
                return null;
            });
            // waitUntil, not get(): a controlled context (the explorer's) runs the task only when
            // its controller is asked to run work until the condition holds.
            t.context().waitUntil(stopped::isDone, Duration.ofSeconds(5), options.id() + ": stopping the in-flight tracking");
            stopped.get();
        } catch (java.util.concurrent.RejectedExecutionException | IllegalStateException e) {
            // the context is closed: its registrations are gone with it
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException | io.jvmm.chardev.SyncWaitTimeoutException e) {
            log.warn("{}: stopping the in-flight tracking failed: {}", options.id(), e.toString());
        }
    }

    /**
     * Interrupts delivered by the drain of a masked notifier after the switch away from it was
     * acknowledged: completions that reached the masked notifier too late for its watch (rule 2's
     * window), which only the drain saved.
     */
    public long maskedDrainDeliveries() {
        return maskedDrainDeliveries.get();
    }

    /** Requests the front-end completed with the error reply because the back-end was gone. */
    public long errorCompletions() {
        return inFlight == null ? 0 : inFlight.completed();
    }

    @Override
    public String toString() {
        return model.typeName() + " " + options.id() + " (" + frontend.peer() + ")";
    }
}
