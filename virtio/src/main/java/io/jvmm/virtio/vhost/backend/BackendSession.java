package io.jvmm.virtio.vhost.backend;

import io.jvmm.chardev.EventContext;
import io.jvmm.chardev.Registration;
import io.jvmm.chardev.UnixSocketChannel;
import io.jvmm.virtio.vhost.VhostUserChannel;
import io.jvmm.virtio.vhost.VhostUserMessage;
import io.jvmm.virtio.vhost.VhostUserProtocolException;
import io.jvmm.virtio.vhost.VhostUserRequest;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One front-end connection, from its first message to its end: reads requests, has
 * {@link BackendProtocol} serve each, answers as the protocol wants (always, on NEED_REPLY, or
 * not at all), and when it ends, releases what the connection held and says why. It also holds
 * the session's owner (SET_OWNER). A refused request is answered as failed and the session goes
 * on; only a broken stream, a request that cannot report its failure, or {@link #stop()} end it.
 */
final class BackendSession {
    private static final Logger log = LoggerFactory.getLogger(BackendSession.class);

    private final String name;
    private final BackendFaults faults;
    private final BackendDataPlane dataPlane;
    private final BackendProtocol protocol;
    private final BackendStats stats;
    private final CountDownLatch ended = new CountDownLatch(1);
    private volatile FaultInjectingChannel channel;
    private volatile boolean closing;
    private volatile boolean owned;
    private volatile String endReason;
    /** The watch on the socket when served on an event context ({@link #serveOn}). */
    private volatile Registration registration;
    private volatile boolean finished;

    BackendSession(String name, BackendDevice device, BackendFaults faults, BackendDataPlane dataPlane, BackendStats stats) {
        this.name = name;
        this.faults = faults;
        this.dataPlane = dataPlane;
        this.stats = stats;
        this.protocol = new BackendProtocol(name, device, faults, dataPlane, stats, () -> owned = true);
    }

    BackendProtocol protocol() {
        return protocol;
    }

    /** Serves {@code socket} on the calling thread until the connection ends; then releases it. */
    void serve(UnixSocketChannel socket) {
        FaultInjectingChannel ch = open(socket);
        String why = "failed";
        try {
            do {
                why = serveOne(ch);
            } while (why == null);
        } finally {
            finish(ch, why);
        }
    }

    /**
     * Serves {@code socket} with one callback per message on {@code context} (the explorer runs
     * the back-end this way, under its controller), until the connection ends; then releases it.
     */
    void serveOn(EventContext context, UnixSocketChannel socket) {
        FaultInjectingChannel ch = open(socket);
        Registration[] watch = new Registration[1];
        watch[0] = context.addReadable(socket.fd(), name + " front-end requests", () -> {
            String why = serveOne(ch);
            if (why != null) {
                watch[0].cancel();   // before the socket is closed
                finish(ch, why);
            }
        });
        registration = watch[0];
    }

    private FaultInjectingChannel open(UnixSocketChannel socket) {
        FaultInjectingChannel ch = new FaultInjectingChannel(name,
                new VhostUserChannel(socket, "vhost-user front-end of back-end '" + name + "'"), faults, () -> closing, dataPlane::pause);
        channel = ch;
        log.debug("{}: serving {}", name, socket);
        return ch;
    }

    /** Receives and answers one request; returns why the session ends, or null to go on. */
    private String serveOne(FaultInjectingChannel ch) {
        if (closing) {
            return "connection closed";
        }
        try {
            handle(ch, ch.receive());
            return null;
        } catch (SessionEnd e) {
            return e.getMessage();
        } catch (VhostUserProtocolException e) {
            String why = "protocol error: " + e.getMessage();
            log.warn("{}: {}", name, why);
            return why;
        } catch (RuntimeException e) {
            String why = closing ? "closed" : "failed: " + e;
            if (!closing) {
                log.warn("{}: connection {}", name, why, e);
            }
            return why;
        }
    }

    private void finish(FaultInjectingChannel ch, String why) {
        if (finished) {
            return;
        }
        finished = true;
        try {
            ch.close();
            dataPlane.endSession();
        } finally {
            end(why);
        }
    }

    private void handle(FaultInjectingChannel ch, VhostUserMessage m) {
        stats.received(m);
        if (log.isDebugEnabled()) {
            log.debug("{}: received {}{}", name, m.name(), m.needsReply() ? " (NEED_REPLY)" : "");
        }
        byte[] reply = null;
        boolean ok;
        try {
            reply = protocol.serve(m, ch.peer());
            ok = true;
        } catch (Refusal | VhostUserProtocolException | IllegalArgumentException | IllegalStateException e) {
            log.warn("{}: refused {}: {}", name, m.name(), e.getMessage());
            ok = false;
        }
        VhostUserRequest type = m.type();
        if (type != null && type.alwaysReplies()) {
            if (!ok && type != VhostUserRequest.GET_CONFIG) {
                throw new VhostUserProtocolException(m.name() + " failed and has no way to report it");
            }
            ch.reply(VhostUserMessage.reply(m.request(), ok ? reply : new byte[0]));
        } else if (m.needsReply()) {
            ch.reply(VhostUserMessage.ack(m.request(), ok));
        } else {
            ch.noReply(m);
        }
    }

    /** The session is over (also when no connection was ever served): records why and wakes the waiters. */
    void end(String why) {
        endReason = why;
        log.debug("{}: connection ended: {}", name, why);
        ended.countDown();
    }

    boolean awaitEnd(Duration timeout) throws InterruptedException {
        return ended.await(timeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** Why the session ended, or null while it runs. */
    String endReason() {
        return endReason;
    }

    /** Messages received so far. */
    long messages() {
        FaultInjectingChannel ch = channel;
        return ch == null ? 0 : ch.messages();
    }

    boolean isOwned() {
        return owned;
    }

    /** Whether {@link #stop()} was called: the session is ending on purpose. */
    boolean isClosing() {
        return closing;
    }

    /** Ends the session from any thread: closes the connection, which ends {@link #serve}. */
    void stop() {
        closing = true;
        FaultInjectingChannel ch = channel;
        Registration r = registration;
        if (r != null && ch != null) {
            // Served on a context: no thread will see the closed socket, so end the session here.
            r.cancel();
            finish(ch, "closed");
            return;
        }
        if (ch != null) {
            ch.close();
        }
    }
}
