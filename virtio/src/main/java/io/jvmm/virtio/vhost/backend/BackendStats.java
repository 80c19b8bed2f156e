package io.jvmm.virtio.vhost.backend;

import io.jvmm.virtio.vhost.ProtocolFeatures;
import io.jvmm.virtio.vhost.VhostUserMessage;
import io.jvmm.virtio.vhost.VhostUserRequest;
import java.util.EnumMap;
import java.util.Map;
import java.util.StringJoiner;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * What one session of a {@link VhostUserBackend} saw, for experiments against front-ends we did
 * not write (QEMU): how many requests of each type arrived and how many of them asked for a
 * reply (NEED_REPLY), how many call-fd switches there were and how many completions were
 * signalled on the old call fd while a switch was under way (the window of the historic
 * SET_VRING_CALL race), and the kicks rule 3 remembered or, when switched off, dropped.
 *
 * <p>{@link #line} prints it as one line of {@code key=value} words, the form the race lab parses.
 */
public final class BackendStats {
    private final AtomicLongArray requests = new AtomicLongArray(64);
    private final AtomicLongArray needReply = new AtomicLongArray(64);
    private final AtomicLong unknownRequests = new AtomicLong();
    final AtomicLong callSwitches = new AtomicLong();
    final AtomicLong signalsDuringSwitch = new AtomicLong();
    final AtomicLong signals = new AtomicLong();

    /** Counts a request as it arrives (any thread that receives). */
    void received(VhostUserMessage m) {
        int id = m.request();
        if (id < 0 || id >= requests.length()) {
            unknownRequests.incrementAndGet();
            return;
        }
        requests.incrementAndGet(id);
        if (m.needsReply()) {
            needReply.incrementAndGet(id);
        }
    }

    /** Requests of type {@code id} received so far. */
    public long requests(int id) {
        return id >= 0 && id < requests.length() ? requests.get(id) : 0;
    }

    /** Requests of type {@code id} that carried NEED_REPLY. */
    public long needReply(int id) {
        return id >= 0 && id < needReply.length() ? needReply.get(id) : 0;
    }

    public long callSwitches() {
        return callSwitches.get();
    }

    /** Completions signalled on a call fd after a SET_VRING_CALL replacing it arrived, before it was applied. */
    public long signalsDuringSwitch() {
        return signalsDuringSwitch.get();
    }

    /** Completions signalled on any call fd. */
    public long signals() {
        return signals.get();
    }

    /**
     * One line: {@code protocol=NAMES requests=TYPE:N/NEEDREPLY,... call-switches=N
     * signals=N signals-during-switch=N kicks-remembered=N kicks-dropped=N served=N}.
     */
    String line(long protocolFeatures, long kicksRemembered, long kicksDropped, long served) {
        Map<VhostUserRequest, Long> seen = new EnumMap<>(VhostUserRequest.class);
        for (VhostUserRequest r : VhostUserRequest.values()) {
            long n = requests(r.id());
            if (n > 0) {
                seen.put(r, n);
            }
        }
        StringJoiner req = new StringJoiner(",");
        seen.forEach((r, n) -> req.add(r.name() + ":" + n + "/" + needReply(r.id())));
        return "protocol=" + ProtocolFeatures.describe(protocolFeatures)
                + " requests=" + (req.length() == 0 ? "none" : req.toString())
                + (unknownRequests.get() > 0 ? " unknown-requests=" + unknownRequests.get() : "")
                + " call-switches=" + callSwitches.get()
                + " signals=" + signals.get()
                + " signals-during-switch=" + signalsDuringSwitch.get()
                + " kicks-remembered=" + kicksRemembered
                + " kicks-dropped=" + kicksDropped
                + " served=" + served;
    }
}
