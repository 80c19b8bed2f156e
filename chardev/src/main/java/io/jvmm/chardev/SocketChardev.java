package io.jvmm.chardev;

import java.time.Duration;
import java.util.Objects;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A Unix-socket character device with QEMU's {@code -chardev socket} semantics: a client that
 * connects (retrying until its connect timeout), or a server that listens and accepts one
 * client at a time; hang-ups are detected and reported, and with a reconnect policy a client
 * reconnects and a server accepts again.
 *
 * <p>Threads: everything the chardev does (connect attempts, accepting, watching for hang-up,
 * reconnect timers) runs on the {@link EventContext} given to {@link #open}, and so do both
 * {@link Listener} callbacks. {@link #open} may be called from any thread, including that
 * context's own: it waits with {@link EventContext#waitUntil}, so the context keeps running
 * (a server chardev on the same context as a client it waits for still accepts).
 *
 * <p>The chardev never reads the socket: data belongs to the {@link Listener}, which reads it on
 * whichever thread it likes. Disconnects are seen through EPOLLRDHUP/EPOLLHUP; a user that
 * notices one first (EOF, EPIPE) reports it with {@link #disconnect}.
 */
public final class SocketChardev implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(SocketChardev.class);
    /** Pause between connect attempts while opening. */
    private static final Duration OPEN_RETRY = Duration.ofMillis(50);
    private static final Duration CLOSE_TIMEOUT = Duration.ofSeconds(5);

    /** Connection events, called on the chardev's event context. */
    public interface Listener {
        /** A connection is up; the channel stays open until after onDisconnected. */
        void onConnected(UnixSocketChannel channel);

        /**
         * The connection went away (why says how). The channel is still open during this call,
         * so unread data can be drained; it is closed right after.
         */
        void onDisconnected(String why);
    }

    private enum State { STARTING, CONNECTING, LISTENING, CONNECTED, DISCONNECTED, CLOSED }

    private final SocketChardevSpec spec;
    private final EventContext context;
    private final Listener listener;
    private final String label;

    // Written on the context thread; volatile because open() and accessors read them elsewhere.
    private volatile State state = State.STARTING;
    private volatile UnixSocketChannel channel;
    private volatile boolean everConnected;
    private volatile RuntimeException failure;
    private volatile String lastError;
    private UnixServerSocket serverSocket;
    private Registration acceptRegistration;
    private Registration hangupWatch;
    private Registration retryTimer;

    private SocketChardev(SocketChardevSpec spec, EventContext context, Listener listener) {
        this.spec = spec;
        this.context = context;
        this.listener = listener;
        this.label = "chardev '" + spec.id() + "' (" + (spec.server() ? "server on " : "client of ") + spec.path() + ")";
    }

    /**
     * Opens the chardev. A client returns once connected; a server once listening, or with
     * waitForClient once the first client is connected.
     *
     * @throws ChardevException naming id and path if that does not happen within the spec's
     *         connect timeout, or the socket cannot be set up at all
     */
    public static SocketChardev open(SocketChardevSpec spec, EventContext context, Listener listener) {
        Objects.requireNonNull(spec, "spec");
        Objects.requireNonNull(context, "context");
        Objects.requireNonNull(listener, "listener");
        SocketChardev c = new SocketChardev(spec, context, listener);
        c.onContext("start " + c.label, c::start);
        boolean needsConnection = !spec.server() || spec.waitForClient();
        String what = needsConnection
                ? (spec.server() ? "a client of " : "a connection to ") + c.label
                : "listening of " + c.label;
        try {
            context.waitUntil(() -> c.failure != null
                    || (needsConnection ? c.everConnected : c.state != State.STARTING), spec.connectTimeout(), what);
        } catch (SyncWaitTimeoutException e) {
            c.close();
            String last = c.lastError == null ? "" : " (last attempt: " + c.lastError + ")";
            throw new ChardevException("chardev '" + spec.id() + "': "
                    + (spec.server() ? "no client connected to " : "could not connect to ") + spec.path()
                    + " within " + spec.connectTimeout().toMillis() + " ms" + last, e);
        }
        if (c.failure != null) {
            c.close();
            throw new ChardevException("chardev '" + spec.id() + "' on " + spec.path() + " failed to open: "
                    + c.failure.getMessage(), c.failure);
        }
        return c;
    }

    public String id() {
        return spec.id();
    }

    public SocketChardevSpec spec() {
        return spec;
    }

    public boolean isConnected() {
        return state == State.CONNECTED;
    }

    /** The current connection, or null while disconnected. */
    public UnixSocketChannel channel() {
        return channel;
    }

    /**
     * Reports a disconnect the user noticed first (EOF or EPIPE on the channel). Any thread;
     * handled on the context. Ignored if that connection is already gone.
     */
    public void disconnect(String why) {
        UnixSocketChannel current = channel;
        onContext("disconnect " + label, () -> lost(current, why));
    }

    /**
     * Closes the chardev: stops retrying and accepting, closes the connection (telling the
     * listener "chardev closed") and the listening socket. Idempotent; any thread.
     */
    @Override
    public void close() {
        if (context.inContext() || context.isClosed()) {
            shutdown();
            return;
        }
        try {
            context.submit(() -> {
                shutdown();
                return null;
            }).get(CLOSE_TIMEOUT.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.RejectedExecutionException e) {
            shutdown(); // the context closed in between: nobody else touches our state now
        } catch (java.util.concurrent.ExecutionException e) {
            log.warn("{}: close failed", label, e.getCause());
        } catch (java.util.concurrent.TimeoutException e) {
            log.warn("{}: close did not run on context '{}' within {} ms", label, context.name(), CLOSE_TIMEOUT.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    // ------------------------------------------------------------ on the context thread

    private void start() {
        if (state != State.STARTING) {
            return; // closed before it started
        }
        try {
            if (spec.server()) {
                serverSocket = UnixServerSocket.listen(spec.path());
                state = State.LISTENING;
                log.info("{}: listening", label);
                startAccepting();
            } else {
                state = State.CONNECTING;
                attemptConnect();
            }
        } catch (RuntimeException e) {
            failure = e;
        }
    }

    private void attemptConnect() {
        retryTimer = null;
        if (state != State.CONNECTING) {
            return;
        }
        try {
            connected(UnixSocketChannel.connectNonBlocking(spec.path()));
        } catch (NativeException e) {
            lastError = e.getMessage();
            if (!UnixSocketChannel.isNotListening(e.errno()) && !everConnected) {
                failure = e; // e.g. EACCES: retrying will not help
                return;
            }
            Duration delay = everConnected ? spec.reconnect() : OPEN_RETRY;
            log.debug("{}: connect failed ({}), retrying in {} ms", label, e.getMessage(), delay.toMillis());
            retryTimer = context.schedule(delay, "reconnect " + label, this::attemptConnect);
        }
    }

    private void startAccepting() {
        acceptRegistration = context.addReadable(serverSocket.fd(), "accept on " + label, this::acceptOne);
    }

    private void acceptOne() {
        UnixSocketChannel ch = serverSocket.accept();
        // One client at a time, as QEMU: stop accepting so later clients wait in the backlog.
        acceptRegistration.cancel();
        acceptRegistration = null;
        connected(ch);
    }

    private void connected(UnixSocketChannel ch) {
        channel = ch;
        state = State.CONNECTED;
        everConnected = true;
        lastError = null;
        log.info("{}: connected (fd {})", label, ch.fd());
        hangupWatch = context.addHangupWatch(ch.fd(), "hang-up of " + label, () -> lost(ch, "peer hung up"));
        try {
            listener.onConnected(ch);
        } catch (RuntimeException e) {
            log.error("{}: onConnected listener failed", label, e);
        }
    }

    private void lost(UnixSocketChannel which, String why) {
        if (state != State.CONNECTED || which == null || which != channel) {
            return;
        }
        log.info("{}: disconnected: {}", label, why);
        dropConnection(why);
        if (spec.reconnect() == null) {
            state = State.DISCONNECTED;
            if (serverSocket != null) {
                serverSocket.close(); // no reconnect policy: stop listening for good
            }
            return;
        }
        if (spec.server()) {
            state = State.LISTENING;
            startAccepting();
        } else {
            state = State.CONNECTING;
            retryTimer = context.schedule(spec.reconnect(), "reconnect " + label, this::attemptConnect);
        }
    }

    private void dropConnection(String why) {
        UnixSocketChannel ch = channel;
        if (hangupWatch != null) {
            hangupWatch.cancel();
            hangupWatch = null;
        }
        try {
            listener.onDisconnected(why);
        } catch (RuntimeException e) {
            log.error("{}: onDisconnected listener failed", label, e);
        }
        channel = null;
        ch.close();
    }

    private void shutdown() {
        if (state == State.CLOSED) {
            return;
        }
        boolean wasConnected = state == State.CONNECTED;
        state = State.CLOSED;
        if (retryTimer != null) {
            retryTimer.cancel();
        }
        if (acceptRegistration != null) {
            acceptRegistration.cancel();
        }
        if (wasConnected) {
            dropConnection("chardev closed");
        }
        if (serverSocket != null) {
            serverSocket.close();
        }
        log.debug("{}: closed", label);
    }

    /** Runs r on the context: directly if already there, else queued. */
    private void onContext(String what, Runnable r) {
        if (context.inContext()) {
            r.run();
        } else {
            context.execute(what, r);
        }
    }

    @Override
    public String toString() {
        return label + " " + state;
    }
}
