package io.jvmm.virtio.vhost.backend;

import io.jvmm.chardev.EventFd;
import io.jvmm.chardev.Fds;
import io.jvmm.virtio.queue.SplitVirtqueue;
import io.jvmm.virtio.vhost.DeviceConfig;
import io.jvmm.virtio.vhost.MemoryTable;
import io.jvmm.virtio.vhost.Payloads;
import io.jvmm.virtio.vhost.ProtocolFeatures;
import io.jvmm.virtio.vhost.VhostUserMessage;
import io.jvmm.virtio.vhost.VhostUserProtocolException;
import io.jvmm.virtio.vhost.VhostUserRequest;
import io.jvmm.virtio.vhost.VringAddress;
import io.jvmm.virtio.vhost.VringFd;
import io.jvmm.virtio.vhost.VringState;
import java.util.Arrays;
import java.util.Collections;
import java.util.EnumMap;
import java.util.Map;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What each vhost-user request means to this back-end: one handler per message type, in one
 * table ({@link #handlers}), so the protocol coverage is read off one place; anything else is
 * refused. It keeps what the two sides agreed (features, protocol features) and turns ring
 * requests into changes of the {@link BackendDataPlane}.
 */
final class BackendProtocol {
    private static final Logger log = LoggerFactory.getLogger(BackendProtocol.class);
    private static final long PROTOCOL_FEATURES_BIT = 1L << ProtocolFeatures.F_PROTOCOL_FEATURES;
    private static final long OFFERED_PROTOCOL = ProtocolFeatures.bit(ProtocolFeatures.MQ)
            | ProtocolFeatures.bit(ProtocolFeatures.REPLY_ACK) | ProtocolFeatures.bit(ProtocolFeatures.CONFIG)
            | ProtocolFeatures.bit(ProtocolFeatures.RESET_DEVICE);

    /** One message type's handler: returns the reply payload of a request that always answers, else null. */
    @FunctionalInterface
    private interface RequestHandler {
        byte[] handle(VhostUserMessage m);
    }

    private final String name;
    private final BackendDevice device;
    private final BackendFaults faults;
    private final BackendDataPlane dataPlane;
    private final BackendStats stats;
    private final Map<VhostUserRequest, RequestHandler> handlers;

    // On the control thread; the rest read them once set.
    private volatile long ackedFeatures;
    private volatile boolean protocolFeaturesNegotiated;
    private volatile long ackedProtocolFeatures;

    /**
     * @param setOwner what SET_OWNER does to the session
     */
    BackendProtocol(String name, BackendDevice device, BackendFaults faults, BackendDataPlane dataPlane, BackendStats stats,
                    Runnable setOwner) {
        this.name = name;
        this.device = device;
        this.faults = faults;
        this.dataPlane = dataPlane;
        this.stats = stats;
        this.handlers = Collections.unmodifiableMap(handlers(setOwner));
    }

    /** The protocol coverage of this back-end: every message type it serves and its handler. */
    private Map<VhostUserRequest, RequestHandler> handlers(Runnable setOwner) {
        EnumMap<VhostUserRequest, RequestHandler> t = new EnumMap<>(VhostUserRequest.class);
        t.put(VhostUserRequest.GET_FEATURES, m -> Payloads.u64(device.features() | PROTOCOL_FEATURES_BIT));
        t.put(VhostUserRequest.SET_FEATURES, this::setFeatures);
        t.put(VhostUserRequest.SET_OWNER, m -> {
            setOwner.run();
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

    Set<VhostUserRequest> servedRequests() {
        return handlers.keySet();
    }

    /** The protocol features the front-end acknowledged. */
    long protocolFeatures() {
        return ackedProtocolFeatures;
    }

    /**
     * Serves one request: checks what every request must satisfy, then runs its handler. The
     * message's fds are taken in every outcome (closed here, or owned by the handler).
     *
     * @return the reply payload of a request that always answers, else null
     * @throws Refusal, VhostUserProtocolException, IllegalArgumentException or IllegalStateException
     *     for a request refused; anything else means the session cannot go on
     */
    byte[] serve(VhostUserMessage m, String peer) {
        VhostUserRequest type = m.type();
        RequestHandler handler = type == null ? null : handlers.get(type);
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
            Payloads.check(m, type.requestPayload(), peer);
            dispatched = true;   // a handler owns the message's fds from here, in every outcome
            return handler.handle(m);
        } catch (Refusal | VhostUserProtocolException | IllegalArgumentException | IllegalStateException e) {
            if (!dispatched || !type.carriesFds()) {
                Fds.closeQuietly(m.fds());
            }
            throw e;
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
        dataPlane.installMemory(BackendMemory.map(table, m.fds()), ackedFeatures);
        log.debug("{}: memory table of {} regions", name, table.regions().size());
        return null;
    }

    private byte[] setVringNum(VhostUserMessage m) {
        VringState s = VringState.decode(m, name);
        BackendVring v = dataPlane.vring(s.index());
        if (s.num() == 0 || s.num() > SplitVirtqueue.MAX_SIZE || Long.bitCount(s.num()) != 1) {
            throw new Refusal("vring " + s.index() + " size " + s.num() + " is not a power of two up to " + SplitVirtqueue.MAX_SIZE);
        }
        dataPlane.setSize(v, (int) s.num());
        return null;
    }

    private byte[] setVringBase(VhostUserMessage m) {
        VringState s = VringState.decode(m, name);
        BackendVring v = dataPlane.vring(s.index());
        if (s.num() > 0xFFFF) {
            throw new Refusal("vring " + s.index() + " base " + s.num() + " does not fit a split ring's 16-bit index");
        }
        dataPlane.setBase(v, (int) s.num());
        return null;
    }

    private byte[] setVringAddr(VhostUserMessage m) {
        VringAddress a = VringAddress.decode(m, name);
        BackendVring v = dataPlane.vring(a.index());
        if ((a.flags() & VringAddress.F_LOG) != 0) {
            throw new Refusal("vring " + a.index() + ": dirty logging (VHOST_VRING_F_LOG) is not supported");
        }
        dataPlane.setAddress(v, a, ackedFeatures);
        return null;
    }

    private byte[] getVringBase(VhostUserMessage m) {
        VringState s = VringState.decode(m, name);
        int next = dataPlane.stop(dataPlane.vring(s.index()));
        log.debug("{}: vring {} stopped at {}", name, s.index(), next);
        return new VringState(s.index(), next).encode();
    }

    private byte[] setVringKick(VhostUserMessage m) {
        VringFd f = decodeVringFd(m);
        BackendVring v = vring(f.index(), m);
        if (f.noFd()) {
            throw new Refusal("vring " + f.index() + ": polling (SET_VRING_KICK without fd) is not supported");
        }
        // Without protocol features a ring starts enabled; with them, SET_VRING_ENABLE enables it.
        dataPlane.start(v, EventFd.adopt(m.fds()[0]), !protocolFeaturesNegotiated, ackedFeatures);
        log.debug("{}: vring {} started ({})", name, v.index, v.enabled ? "enabled" : "disabled");
        return null;
    }

    private byte[] setVringCall(VhostUserMessage m) {
        VringFd f = decodeVringFd(m);
        BackendVring v = vring(f.index(), m);
        EventFd call = f.noFd() ? null : EventFd.adopt(m.fds()[0]);
        v.callSwitchStarting();
        dataPlane.pause(faults.callSwitchDelay(), "call-fd switch of vring " + f.index());   // the data plane keeps signalling the old fd meanwhile
        v.switchCall(call);   // no hop to the data plane: see BackendVring
        stats.callSwitches.incrementAndGet();
        return null;
    }

    private byte[] setVringErr(VhostUserMessage m) {
        VringFd f = decodeVringFd(m);
        BackendVring v = vring(f.index(), m);
        dataPlane.switchErr(v, f.noFd() ? null : EventFd.adopt(m.fds()[0]));
        return null;
    }

    private byte[] setVringEnable(VhostUserMessage m) {
        VringState s = VringState.decode(m, name);
        BackendVring v = dataPlane.vring(s.index());
        if (s.num() > 1) {
            throw new Refusal("SET_VRING_ENABLE of vring " + s.index() + " with " + s.num() + " (only 0 or 1)");
        }
        if (!protocolFeaturesNegotiated) {
            throw new Refusal("SET_VRING_ENABLE without VHOST_USER_F_PROTOCOL_FEATURES negotiated");
        }
        dataPlane.pause(faults.enableDelay(), "enable of vring " + s.index());
        dataPlane.enable(v, s.num() == 1);
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

    /** RESET_DEVICE, and RESET_OWNER (its deprecated form): the session keeps its owner. */
    private byte[] resetDevice(VhostUserMessage m) {
        dataPlane.reset();
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

    /** As {@link BackendDataPlane#vring(int)}, closing the message's fds if the index is bad. */
    private BackendVring vring(int index, VhostUserMessage m) {
        try {
            return dataPlane.vring(index);
        } catch (RuntimeException e) {
            Fds.closeQuietly(m.fds());
            throw e;
        }
    }
}
