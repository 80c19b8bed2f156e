package io.jvmm.virtio.vhost.backend;

import io.jvmm.chardev.EndOfStreamException;
import io.jvmm.chardev.EventContext;
import io.jvmm.chardev.EventFd;
import io.jvmm.chardev.Fds;
import io.jvmm.chardev.UnixServerSocket;
import io.jvmm.chardev.UnixSocketChannel;
import io.jvmm.virtio.VirtioFeatures;
import io.jvmm.virtio.queue.SplitVirtqueue;
import io.jvmm.virtio.queue.VirtqueueFault;
import io.jvmm.virtio.vhost.DeviceConfig;
import io.jvmm.virtio.vhost.MemoryTable;
import io.jvmm.virtio.vhost.Payloads;
import io.jvmm.virtio.vhost.ProtocolFeatures;
import io.jvmm.virtio.vhost.VhostUserChannel;
import io.jvmm.virtio.vhost.VhostUserHeader;
import io.jvmm.virtio.vhost.VhostUserMessage;
import io.jvmm.virtio.vhost.VhostUserProtocolException;
import io.jvmm.virtio.vhost.VhostUserRequest;
import io.jvmm.virtio.vhost.VringAddress;
import io.jvmm.virtio.vhost.VringFd;
import io.jvmm.virtio.vhost.VringState;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Collections;
import java.util.EnumMap;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A vhost-user back-end in Java, serving a {@link BackendDevice} over one connection, for tests
 * and jvmm's own back-ends. It runs in-process ({@link #startServer}, {@link #startClient}) or as
 * a separate process ({@link VhostUserBackendMain}).
 *
 * <p>It maps the memory table's fds with {@link io.jvmm.chardev.SharedMemory#map}, builds a
 * {@link io.jvmm.pci.mem.GuestMemory} from them and serves rings with {@link SplitVirtqueue}.
 * Ring states follow the specification: a ring starts at SET_VRING_KICK and stops at
 * GET_VRING_BASE; it starts enabled unless VHOST_USER_F_PROTOCOL_FEATURES was negotiated, in
 * which case SET_VRING_ENABLE enables it. Rule 3: a kick on a started but disabled ring is
 * remembered and served once the ring is enabled (unless {@link BackendFaults} says to break it).
 *
 * <p>Threads: one control thread reads and answers messages (dispatched through one table,
 * {@link #handlers()}); a data-plane event context watches kick fds and serves rings. Every
 * change to a ring runs on the data plane, and the reply goes out only after it did: once a
 * SET_VRING_CALL is acknowledged, no completion signals the old call fd.
 */
public final class VhostUserBackend implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(VhostUserBackend.class);
    private static final Duration DATA_PLANE_TIMEOUT = Duration.ofSeconds(10);
    private static final long PROTOCOL_FEATURES_BIT = 1L << ProtocolFeatures.F_PROTOCOL_FEATURES;
    private static final long OFFERED_PROTOCOL = ProtocolFeatures.bit(ProtocolFeatures.MQ)
            | ProtocolFeatures.bit(ProtocolFeatures.REPLY_ACK) | ProtocolFeatures.bit(ProtocolFeatures.CONFIG)
            | ProtocolFeatures.bit(ProtocolFeatures.RESET_DEVICE);

    /** One message type's handler: returns the reply payload of a request that always answers, else null. */
    @FunctionalInterface
    interface RequestHandler {
        byte[] handle(VhostUserMessage m);
    }

    /** The front-end asked for something this back-end cannot or will not do. */
    private static final class Refusal extends RuntimeException {
        private static final long serialVersionUID = 1L;

        Refusal(String message) {
            super(message);
        }
    }

    private final String name;
    private final BackendDevice device;
    private final BackendFaults faults;
    private final EventContext dataPlane;
    private final BackendVring[] vrings;
    private final Map<VhostUserRequest, RequestHandler> handlers;
    private final AtomicLong messages = new AtomicLong();
    private final AtomicLong kicksRemembered = new AtomicLong();
    private final AtomicLong kicksDropped = new AtomicLong();
    private final CountDownLatch ended = new CountDownLatch(1);
    private volatile VhostUserChannel channel;
    private volatile UnixServerSocket listener;
    private volatile Thread thread;
    private volatile String endReason;
    private volatile boolean closing;
    private int faultedReplyCount;

    // Session state, on the control thread (features are read by the data plane once set).
    private volatile long ackedFeatures;
    private volatile boolean protocolFeaturesNegotiated;
    private long ackedProtocolFeatures;
    private boolean owned;
    private BackendMemory memory;   // swapped on the data plane

    public VhostUserBackend(String name, BackendDevice device, BackendFaults faults) {
        this.name = Objects.requireNonNull(name, "name");
        this.device = Objects.requireNonNull(device, "device");
        this.faults = Objects.requireNonNull(faults, "faults");
        this.vrings = new BackendVring[device.queueCount()];
        for (int i = 0; i < vrings.length; i++) {
            vrings[i] = new BackendVring(i);
        }
        this.handlers = Collections.unmodifiableMap(handlers());
        this.dataPlane = EventContext.start("vhost-backend-" + name);
    }

    /**
     * The protocol coverage of this back-end, in one place: every message type it serves and its
     * handler. Anything else is refused.
     */
    private Map<VhostUserRequest, RequestHandler> handlers() {
        EnumMap<VhostUserRequest, RequestHandler> t = new EnumMap<>(VhostUserRequest.class);
        t.put(VhostUserRequest.GET_FEATURES, m -> Payloads.u64(device.features() | PROTOCOL_FEATURES_BIT));
        t.put(VhostUserRequest.SET_FEATURES, this::setFeatures);
        t.put(VhostUserRequest.SET_OWNER, m -> {
            owned = true;
            return null;
        });
        t.put(VhostUserRequest.RESET_OWNER, this::resetDevice);
        t.put(VhostUserRequest.SET_MEM_TABLE, this::setMemTable);
        t.put(VhostUserRequest.SET_VRING_NUM, this::setVringNum);
        t.put(VhostUserRequest.SET_VRING_ADDR, this::setVringAddr);
        t.put(VhostUserRequest.SET_VRING_BASE, this::setVringBase);
        t.put(VhostUserRequest.GET_VRING_BASE, this::getVringBase);
        t.put(VhostUserRequest.SET_VRING_KICK, this::setVringKick);
        t.put(VhostUserRequest.SET_VRING_CALL, this::setVringCall);
        t.put(VhostUserRequest.SET_VRING_ERR, this::setVringErr);
        t.put(VhostUserRequest.GET_PROTOCOL_FEATURES, m -> Payloads.u64(offeredProtocolFeatures()));
        t.put(VhostUserRequest.SET_PROTOCOL_FEATURES, this::setProtocolFeatures);
        t.put(VhostUserRequest.GET_QUEUE_NUM, m -> Payloads.u64(device.queueCount()));
        t.put(VhostUserRequest.SET_VRING_ENABLE, this::setVringEnable);
        t.put(VhostUserRequest.GET_CONFIG, this::getConfig);
        t.put(VhostUserRequest.SET_CONFIG, this::setConfig);
        t.put(VhostUserRequest.RESET_DEVICE, this::resetDevice);
        return t;
    }

    /** The message types served (for coverage reports and tests). */
    public java.util.Set<VhostUserRequest> servedRequests() {
        return handlers.keySet();
    }

    // ---------------------------------------------------------------- running it

    /** In-process: listens on {@code path} and serves the first connection on a new thread. */
    public static VhostUserBackend startServer(Path path, String name, BackendDevice device, BackendFaults faults) {
        VhostUserBackend b = new VhostUserBackend(name, device, faults);
        UnixServerSocket server;
        try {
            server = UnixServerSocket.listen(path);
        } catch (RuntimeException e) {
            b.close();
            throw e;
        }
        b.listener = server;
        b.startThread(() -> {
            UnixSocketChannel socket;
            try {
                socket = server.accept();
            } catch (RuntimeException e) {
                b.finish(b.closing ? "closed before a front-end connected" : "accept failed: " + e.getMessage());
                return;
            } finally {
                server.close();
            }
            b.serve(socket);
        });
        return b;
    }

    /** In-process: connects to a front-end listening on {@code path} (retrying until timeout) and serves it on a new thread. */
    public static VhostUserBackend startClient(Path path, String name, BackendDevice device, BackendFaults faults, Duration timeout) {
        VhostUserBackend b = new VhostUserBackend(name, device, faults);
        UnixSocketChannel socket;
        try {
            socket = connectWithRetry(path, timeout);
        } catch (RuntimeException e) {
            b.close();
            throw e;
        }
        b.startThread(() -> b.serve(socket));
        return b;
    }

    static UnixSocketChannel connectWithRetry(Path path, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            Optional<UnixSocketChannel> c = UnixSocketChannel.tryConnect(path);
            if (c.isPresent()) {
                return c.get();
            }
            if (System.nanoTime() - deadline > 0) {
                throw new IllegalStateException("no vhost-user front-end listening on " + path + " within " + timeout.toMillis() + " ms");
            }
            LockSupport.parkNanos(20_000_000);
        }
    }

    private void startThread(Runnable body) {
        Thread t = new Thread(body, "vhost-backend-" + name);
        t.setDaemon(true);
        thread = t;
        t.start();
    }

    /**
     * Serves one connection on the calling thread until it ends (end of stream, a protocol
     * error, a fault that closes it, or {@link #close()}); then releases the session.
     */
    public void serve(UnixSocketChannel socket) {
        VhostUserChannel ch = new VhostUserChannel(socket, "vhost-user front-end of back-end '" + name + "'");
        channel = ch;
        log.debug("{}: serving {}", name, socket);
        String why = "connection closed";
        try {
            while (!closing) {
                VhostUserMessage m;
                try {
                    m = ch.receive();
                } catch (EndOfStreamException e) {
                    why = "front-end closed the connection";
                    break;
                }
                long n = messages.incrementAndGet();
                if (faults.closeAtMessage() == n) {
                    Fds.closeQuietly(m.fds());
                    why = "fault injection: closed at message " + n + " (" + m.name() + ")";
                    log.info("{}: {}", name, why);
                    break;
                }
                if (faults.stallAtMessage() == n) {
                    Fds.closeQuietly(m.fds());
                    log.info("{}: fault injection: stalled at message {} ({})", name, n, m.name());
                    stallUntilClosed(ch);
                    why = "fault injection: stalled at message " + n;
                    break;
                }
                pause(faults.messageDelay());
                handle(m, ch);
            }
        } catch (VhostUserProtocolException e) {
            why = "protocol error: " + e.getMessage();
            log.warn("{}: {}", name, why);
        } catch (RuntimeException e) {
            why = closing ? "closed" : "failed: " + e;
            if (!closing) {
                log.warn("{}: connection {}", name, why, e);
            }
        } finally {
            ch.close();
            endSession();
            finish(why);
        }
    }

    private void finish(String why) {
        endReason = why;
        log.debug("{}: connection ended: {}", name, why);
        ended.countDown();
    }

    /** Waits for the served connection to end; false on timeout. */
    public boolean awaitEnd(Duration timeout) throws InterruptedException {
        return ended.await(timeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** Why the connection ended, or null while it runs. */
    public String endReason() {
        return endReason;
    }

    // ---------------------------------------------------------------- dispatch

    private void handle(VhostUserMessage m, VhostUserChannel ch) {
        VhostUserRequest type = m.type();
        boolean spoil = type != null && type == faults.replyFaultOn() && ++faultedReplyCount == faults.replyFaultOccurrence();
        RequestHandler handler = type == null ? null : handlers.get(type);
        byte[] reply = null;
        boolean ok;
        boolean dispatched = false;
        try {
            if (handler == null) {
                throw new Refusal(m.name() + " is not supported");
            }
            if (m.isReply()) {
                throw new Refusal(m.name() + " arrived with the REPLY flag set");
            }
            if (!type.carriesFds() && m.fds().length > 0) {
                throw new Refusal(m.name() + " carries " + m.fds().length + " fds, it takes none");
            }
            Payloads.check(m, type.requestPayload(), ch.peer());
            dispatched = true;   // a handler owns the message's fds from here, in every outcome
            reply = handler.handle(m);
            ok = true;
        } catch (Refusal | VhostUserProtocolException | IllegalArgumentException | IllegalStateException e) {
            if (!dispatched || !type.carriesFds()) {
                Fds.closeQuietly(m.fds());
            }
            log.warn("{}: refused {}: {}", name, m.name(), e.getMessage());
            ok = false;
        }
        if (type != null && type.alwaysReplies()) {
            if (!ok && type != VhostUserRequest.GET_CONFIG) {
                throw new VhostUserProtocolException(m.name() + " failed and has no way to report it");
            }
            send(ch, VhostUserMessage.reply(m.request(), ok ? reply : new byte[0]), spoil);
        } else if (m.needsReply()) {
            send(ch, VhostUserMessage.ack(m.request(), ok), spoil);
        } else if (spoil) {
            log.info("{}: fault injection: {} gets no reply to spoil", name, m.name());
        }
    }

    private void send(VhostUserChannel ch, VhostUserMessage reply, boolean spoil) {
        if (!spoil) {
            ch.send(reply);
            return;
        }
        ReplyFault fault = faults.replyFault();
        log.info("{}: fault injection: {} reply to {}", name, fault, reply.name());
        switch (fault) {
            case SHORT -> {
                byte[] half = Arrays.copyOf(reply.payload(), reply.payload().length / 2);
                ch.send(new VhostUserMessage(reply.request(), reply.flags(), half, null));
            }
            case MALFORMED -> {
                ByteBuffer b = reply.encode();
                b.order(ByteOrder.LITTLE_ENDIAN).putInt(4, (reply.flags() & ~VhostUserHeader.VERSION_MASK) | 0x2);
                ch.sendRaw(b);
            }
            case WRONG_REQUEST -> {
                int other = reply.request() == VhostUserRequest.GET_FEATURES.id()
                        ? VhostUserRequest.GET_PROTOCOL_FEATURES.id() : VhostUserRequest.GET_FEATURES.id();
                ch.send(new VhostUserMessage(other, reply.flags(), reply.payload(), null));
            }
            case UNEXPECTED_FD -> {
                try (EventFd stray = EventFd.create()) {
                    ch.send(new VhostUserMessage(reply.request(), reply.flags(), reply.payload(), new int[] {stray.fd()}));
                }
            }
            case NO_REPLY -> {
                // nothing: the front-end has to notice on its own
            }
            case REFUSE -> ch.send(VhostUserMessage.ack(reply.request(), false));
        }
    }

    // ---------------------------------------------------------------- handlers

    private byte[] setFeatures(VhostUserMessage m) {
        long f = Payloads.decodeU64(m, name);
        long offered = device.features() | PROTOCOL_FEATURES_BIT;
        if ((f & ~offered) != 0) {
            throw new Refusal(String.format("SET_FEATURES 0x%x includes bits 0x%x that were not offered", f, f & ~offered));
        }
        ackedFeatures = f;
        protocolFeaturesNegotiated = (f & PROTOCOL_FEATURES_BIT) != 0;
        return null;
    }

    private long offeredProtocolFeatures() {
        return OFFERED_PROTOCOL & ~faults.hiddenProtocolFeatures();
    }

    private byte[] setProtocolFeatures(VhostUserMessage m) {
        long f = Payloads.decodeU64(m, name);
        if ((f & ~offeredProtocolFeatures()) != 0) {
            throw new Refusal("SET_PROTOCOL_FEATURES " + ProtocolFeatures.describe(f) + " includes features not offered");
        }
        ackedProtocolFeatures = f;
        return null;
    }

    private byte[] setMemTable(VhostUserMessage m) {
        MemoryTable table;
        try {
            table = MemoryTable.decode(m, name);
        } catch (RuntimeException e) {
            Fds.closeQuietly(m.fds());
            throw e;
        }
        BackendMemory mapped = BackendMemory.map(table, m.fds());
        try {
            onDataPlane("install the memory table", () -> {
                BackendMemory old = memory;
                memory = mapped;
                for (BackendVring v : vrings) {
                    if (v.started) {   // re-translate running rings into the new mappings
                        int next = v.queue.lastAvailIndex();
                        v.base = next;
                        v.queue = buildQueue(v);
                    }
                }
                if (old != null) {
                    old.close();
                }
                return null;
            });
        } catch (RuntimeException e) {
            mapped.close();
            throw e;
        }
        log.debug("{}: memory table of {} regions", name, table.regions().size());
        return null;
    }

    private byte[] setVringNum(VhostUserMessage m) {
        VringState s = VringState.decode(m, name);
        BackendVring v = vring(s.index());
        if (s.num() == 0 || s.num() > SplitVirtqueue.MAX_SIZE || Long.bitCount(s.num()) != 1) {
            throw new Refusal("vring " + s.index() + " size " + s.num() + " is not a power of two up to " + SplitVirtqueue.MAX_SIZE);
        }
        onDataPlane("set the size of vring " + s.index(), () -> {
            v.num = (int) s.num();
            return null;
        });
        return null;
    }

    private byte[] setVringBase(VhostUserMessage m) {
        VringState s = VringState.decode(m, name);
        BackendVring v = vring(s.index());
        if (s.num() > 0xFFFF) {
            throw new Refusal("vring " + s.index() + " base " + s.num() + " does not fit a split ring's 16-bit index");
        }
        onDataPlane("set the base of vring " + s.index(), () -> {
            v.base = (int) s.num();
            return null;
        });
        return null;
    }

    private byte[] setVringAddr(VhostUserMessage m) {
        VringAddress a = VringAddress.decode(m, name);
        BackendVring v = vring(a.index());
        if ((a.flags() & VringAddress.F_LOG) != 0) {
            throw new Refusal("vring " + a.index() + ": dirty logging (VHOST_VRING_F_LOG) is not supported");
        }
        onDataPlane("set the addresses of vring " + a.index(), () -> {
            v.address = a;
            if (v.started) {
                v.base = v.queue.lastAvailIndex();
                v.queue = buildQueue(v);
            }
            return null;
        });
        return null;
    }

    private byte[] getVringBase(VhostUserMessage m) {
        VringState s = VringState.decode(m, name);
        BackendVring v = vring(s.index());
        int next = onDataPlane("stop vring " + s.index(), v::stop);
        log.debug("{}: vring {} stopped at {}", name, s.index(), next);
        return new VringState(s.index(), next).encode();
    }

    private byte[] setVringKick(VhostUserMessage m) {
        VringFd f = decodeVringFd(m);
        BackendVring v = vring(f.index(), m);
        if (f.noFd()) {
            throw new Refusal("vring " + f.index() + ": polling (SET_VRING_KICK without fd) is not supported");
        }
        EventFd kick = EventFd.adopt(m.fds()[0]);
        try {
            onDataPlane("start vring " + f.index(), () -> {
                if (v.started) {
                    v.stop();
                }
                v.queue = buildQueue(v);
                v.kick = kick;
                v.started = true;
                if (!protocolFeaturesNegotiated) {
                    v.enabled = true;   // without protocol features a ring starts enabled
                }
                v.kickWatch = dataPlane.addEventFd(kick, name + " kick of vring " + v.index, n -> kicked(v));
                return null;
            });
        } catch (RuntimeException e) {
            if (v.kick != kick) {
                kick.close();
            }
            throw e;
        }
        log.debug("{}: vring {} started ({})", name, v.index, v.enabled ? "enabled" : "disabled");
        return null;
    }

    private byte[] setVringCall(VhostUserMessage m) {
        VringFd f = decodeVringFd(m);
        BackendVring v = vring(f.index(), m);
        EventFd call = f.noFd() ? null : EventFd.adopt(m.fds()[0]);
        pause(faults.callSwitchDelay());   // the data plane keeps signalling the old fd meanwhile
        v.switchCall(call);
        return null;
    }

    private byte[] setVringErr(VhostUserMessage m) {
        VringFd f = decodeVringFd(m);
        BackendVring v = vring(f.index(), m);
        EventFd err = f.noFd() ? null : EventFd.adopt(m.fds()[0]);
        onDataPlane("switch the error fd of vring " + f.index(), () -> {
            EventFd old = v.err;
            v.err = err;
            if (old != null) {
                old.close();
            }
            return null;
        });
        return null;
    }

    private byte[] setVringEnable(VhostUserMessage m) {
        VringState s = VringState.decode(m, name);
        BackendVring v = vring(s.index());
        if (s.num() > 1) {
            throw new Refusal("SET_VRING_ENABLE of vring " + s.index() + " with " + s.num() + " (only 0 or 1)");
        }
        if (!protocolFeaturesNegotiated) {
            throw new Refusal("SET_VRING_ENABLE without VHOST_USER_F_PROTOCOL_FEATURES negotiated");
        }
        pause(faults.enableDelay());
        onDataPlane("enable vring " + s.index(), () -> {
            v.enabled = s.num() == 1;
            if (v.enabled && v.kickPending) {   // rule 3: the kick that came too early
                v.kickPending = false;
                serveRing(v);
            }
            return null;
        });
        return null;
    }

    private byte[] getConfig(VhostUserMessage m) {
        DeviceConfig window = DeviceConfig.decode(m, name);
        byte[] config = device.config();
        if (window.offset() + window.size() > config.length) {
            throw new Refusal("GET_CONFIG window [" + window.offset() + ", +" + window.size() + ") is outside the "
                    + config.length + "-byte config space");
        }
        return new DeviceConfig(window.offset(), window.flags(), Arrays.copyOfRange(config, window.offset(),
                window.offset() + window.size())).encode();
    }

    private byte[] setConfig(VhostUserMessage m) {
        DeviceConfig c = DeviceConfig.decode(m, name);
        if (!device.writeConfig(c.offset(), c.data())) {
            throw new Refusal("SET_CONFIG of [" + c.offset() + ", +" + c.size() + ") refused by the " + device.name());
        }
        return null;
    }

    private byte[] resetDevice(VhostUserMessage m) {
        onDataPlane("reset the device", () -> {
            for (BackendVring v : vrings) {
                v.clear();
            }
            device.reset();
            return null;
        });
        ackedFeatures = 0;
        protocolFeaturesNegotiated = false;
        log.debug("{}: device reset ({})", name, m.name());
        return null;
    }

    private VringFd decodeVringFd(VhostUserMessage m) {
        try {
            return VringFd.decode(m, name);
        } catch (RuntimeException e) {
            Fds.closeQuietly(m.fds());
            throw e;
        }
    }

    private BackendVring vring(int index) {
        if (index < 0 || index >= vrings.length) {
            throw new Refusal("vring " + index + " does not exist (" + vrings.length + " queues)");
        }
        return vrings[index];
    }

    /** As {@link #vring(int)}, closing the message's fds if the index is bad. */
    private BackendVring vring(int index, VhostUserMessage m) {
        try {
            return vring(index);
        } catch (RuntimeException e) {
            Fds.closeQuietly(m.fds());
            throw e;
        }
    }

    // ---------------------------------------------------------------- data plane

    /** A ring over the current memory, from the front-end's user addresses (on the data plane). */
    private SplitVirtqueue buildQueue(BackendVring v) {
        BackendMemory mem = memory;
        if (mem == null) {
            throw new Refusal("vring " + v.index + " started before SET_MEM_TABLE");
        }
        if (v.address == null || v.num == 0) {
            throw new Refusal("vring " + v.index + " started before SET_VRING_ADDR and SET_VRING_NUM");
        }
        int n = v.num;
        long desc = mem.toGuest(v.address.desc(), 16L * n, "descriptor table of vring " + v.index);
        long avail = mem.toGuest(v.address.avail(), 6L + 2L * n, "available ring of vring " + v.index);
        long used = mem.toGuest(v.address.used(), 6L + 8L * n, "used ring of vring " + v.index);
        long features = ackedFeatures;
        try {
            SplitVirtqueue q = new SplitVirtqueue(v.index, mem.guest(), n, SplitVirtqueue.MAX_SIZE, desc, avail, used,
                    VirtioFeatures.has(features, VirtioFeatures.RING_EVENT_IDX),
                    VirtioFeatures.has(features, VirtioFeatures.RING_INDIRECT_DESC), v::signalCall);
            q.setLastAvailIndex(v.base);
            return q;
        } catch (VirtqueueFault e) {
            throw new Refusal(e.getMessage());
        }
    }

    private void kicked(BackendVring v) {
        if (!v.started || v.faulted) {
            return;
        }
        if (!v.enabled) {
            if (faults.dropKicksWhileDisabled()) {
                kicksDropped.incrementAndGet();
                log.debug("{}: kick on disabled vring {} dropped (rule 3 switched off)", name, v.index);
            } else {
                if (!v.kickPending) {
                    kicksRemembered.incrementAndGet();
                }
                v.kickPending = true;
            }
            return;
        }
        serveRing(v);
    }

    private void serveRing(BackendVring v) {
        try {
            device.process(v.index, v.queue);
        } catch (VirtqueueFault e) {
            v.faulted = true;
            log.warn("{}: vring {} stopped: {}", name, v.index, e.getMessage());
            if (v.err != null) {
                v.err.signal();
            }
        }
    }

    private <T> T onDataPlane(String what, Callable<T> work) {
        try {
            return dataPlane.submit(work).get(DATA_PLANE_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException re) {
                throw re;
            }
            throw new IllegalStateException(what + " failed: " + e.getCause(), e.getCause());
        } catch (TimeoutException e) {
            throw new IllegalStateException("the data plane did not " + what + " within " + DATA_PLANE_TIMEOUT.toMillis() + " ms");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting to " + what, e);
        }
    }

    /** A hung back-end: answers nothing until it is closed (or gives up after a minute, so no test leaks it). */
    private void stallUntilClosed(VhostUserChannel ch) {
        long end = System.nanoTime() + TimeUnit.MINUTES.toNanos(1);
        while (!closing && !ch.isClosed() && System.nanoTime() - end < 0) {
            LockSupport.parkNanos(20_000_000);
        }
    }

    /** Sleeps for d; spins below a millisecond, where parking would overshoot by tens of microseconds. */
    private static void pause(Duration d) {
        if (d.isZero()) {
            return;
        }
        long end = System.nanoTime() + d.toNanos();
        for (long left; (left = end - System.nanoTime()) > 0; ) {
            if (left > 1_000_000) {
                LockSupport.parkNanos(left - 500_000);
            } else {
                Thread.onSpinWait();
            }
        }
    }

    /** Releases what the session held: rings, their fds, the memory mappings. */
    private void endSession() {
        try {
            if (!dataPlane.isClosed()) {
                onDataPlane("end the session", () -> {
                    for (BackendVring v : vrings) {
                        v.clear();
                    }
                    if (memory != null) {
                        memory.close();
                        memory = null;
                    }
                    return null;
                });
            }
        } catch (RuntimeException e) {
            log.warn("{}: releasing the session failed: {}", name, e.getMessage());
        }
    }

    // ---------------------------------------------------------------- observation

    public String name() {
        return name;
    }

    public BackendDevice device() {
        return device;
    }

    /** Messages received so far. */
    public long messages() {
        return messages.get();
    }

    /** Kicks that came on a disabled ring and were kept for its enabling (rule 3). */
    public long kicksRemembered() {
        return kicksRemembered.get();
    }

    /** Kicks on a disabled ring thrown away (only with rule 3 switched off). */
    public long kicksDropped() {
        return kicksDropped.get();
    }

    public boolean isOwned() {
        return owned;
    }

    public long protocolFeatures() {
        return ackedProtocolFeatures;
    }

    /** Stops serving: closes the listener and the connection, waits for the serving thread, stops the data plane. */
    @Override
    public void close() {
        closing = true;
        UnixServerSocket l = listener;
        if (l != null) {
            l.close();
        }
        VhostUserChannel ch = channel;
        if (ch != null) {
            ch.close();
        }
        Thread t = thread;
        if (t != null && t != Thread.currentThread()) {
            try {
                t.join(5000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        dataPlane.close();
    }

    @Override
    public String toString() {
        return "vhost-user back-end '" + name + "' (" + device.name() + ")";
    }
}
