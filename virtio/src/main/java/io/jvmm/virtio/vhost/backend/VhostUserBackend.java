package io.jvmm.virtio.vhost.backend;

import io.jvmm.chardev.EventContext;
import io.jvmm.chardev.UnixServerSocket;
import io.jvmm.chardev.UnixSocketChannel;
import io.jvmm.virtio.vhost.VhostUserRequest;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.locks.LockSupport;

/**
 * A vhost-user back-end in Java, serving a {@link BackendDevice} over one connection, for tests
 * and jvmm's own back-ends. It runs in-process ({@link #startServer}, {@link #startClient}) or as
 * a separate process ({@link VhostUserBackendMain}).
 *
 * <p>The parts, one concern each: {@link BackendSession} reads and answers the connection's
 * messages and ends it; {@link BackendProtocol} is the table of request handlers (the protocol
 * coverage); {@link BackendDataPlane} serves rings on kicks, with rule 3 (a kick on a started but
 * disabled ring is remembered and served once the ring is enabled); {@link FaultInjectingChannel}
 * is where {@link BackendFaults} spoil, delay, refuse or drop what goes over the connection.
 *
 * <p>Threads: one control thread reads and answers messages; a data-plane event context watches
 * kick fds and serves rings. Every change to a ring runs on the data plane, and the reply goes out
 * only after it did: once a SET_VRING_CALL is acknowledged, no completion signals the old call fd.
 */
public final class VhostUserBackend implements AutoCloseable {
    private final String name;
    private final BackendDevice device;
    private final BackendDataPlane dataPlane;
    private final BackendSession session;
    private final BackendStats stats = new BackendStats();
    private volatile UnixServerSocket listener;
    private volatile Thread thread;

    public VhostUserBackend(String name, BackendDevice device, BackendFaults faults) {
        this.name = Objects.requireNonNull(name, "name");
        this.device = Objects.requireNonNull(device, "device");
        Objects.requireNonNull(faults, "faults");
        this.dataPlane = new BackendDataPlane(name, device, faults, stats);
        this.session = new BackendSession(name, device, faults, dataPlane, stats);
    }

    /** The message types served (for coverage reports and tests); anything else is refused. */
    public Set<VhostUserRequest> servedRequests() {
        return session.protocol().servedRequests();
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
                b.session.end(b.session.isClosing() ? "closed before a front-end connected" : "accept failed: " + e.getMessage());
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
        session.serve(socket);
    }

    /**
     * Serves one connection with one callback per request on {@code context} instead of a thread
     * (the control-plane explorer runs the whole back-end this way, under its controller); the
     * session ends as {@link #serve} does. Returns at once.
     */
    public void serveOn(EventContext context, UnixSocketChannel socket) {
        session.serveOn(context, socket);
    }

    /** Waits for the served connection to end; false on timeout. */
    public boolean awaitEnd(Duration timeout) throws InterruptedException {
        return session.awaitEnd(timeout);
    }

    /** Why the connection ended, or null while it runs. */
    public String endReason() {
        return session.endReason();
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
        return session.messages();
    }

    /** Kicks that came on a disabled ring and were kept for its enabling (rule 3). */
    public long kicksRemembered() {
        return dataPlane.kicksRemembered();
    }

    /** Kicks on a disabled ring thrown away (only with rule 3 switched off). */
    public long kicksDropped() {
        return dataPlane.kicksDropped();
    }

    /** What the session saw so far: requests by type, NEED_REPLY flags, call switches and signals. */
    public BackendStats stats() {
        return stats;
    }

    /**
     * {@link #stats()} as one line of {@code key=value} words, with the negotiated protocol
     * features, rule 3's kicks and what the device served (when it counts that).
     */
    public String statsLine() {
        long served = device instanceof FillingDevice f ? f.served() : -1;
        return stats.line(protocolFeatures(), kicksRemembered(), kicksDropped(), served);
    }

    public boolean isOwned() {
        return session.isOwned();
    }

    public long protocolFeatures() {
        return session.protocol().protocolFeatures();
    }

    /** Stops serving: closes the listener and the connection, waits for the serving thread, stops the data plane. */
    @Override
    public void close() {
        session.stop();
        UnixServerSocket l = listener;
        if (l != null) {
            l.close();
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
