package io.jvmm.virtio.vhost.frontend;

import io.jvmm.chardev.EndOfStreamException;
import io.jvmm.chardev.EventContext;
import io.jvmm.chardev.Fds;
import io.jvmm.chardev.NativeException;
import io.jvmm.chardev.Registration;
import io.jvmm.chardev.SocketChardev;
import io.jvmm.chardev.SocketChardevSpec;
import io.jvmm.chardev.UnixSocketChannel;
import io.jvmm.virtio.vhost.PayloadKind;
import io.jvmm.virtio.vhost.VhostUserChannel;
import io.jvmm.virtio.vhost.VhostUserException;
import io.jvmm.virtio.vhost.VhostUserMessage;
import io.jvmm.virtio.vhost.VhostUserProtocolException;
import io.jvmm.virtio.vhost.VhostUserRequest;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The front-end's end of one vhost-user connection: messages go out in the order they were
 * queued, replies are matched to requests in order, and every reply is awaited for at most the
 * reply timeout.
 *
 * <p>Threads: any thread may queue requests; whoever queues also sends (the first thread to get
 * the send lock sends everything queued, so callers never wait for each other's replies and a
 * burst goes out back to back). A reader thread receives replies and completes their futures, so
 * future callbacks run on it: they must not block. The connection's own event context runs the
 * chardev (connect/accept, hang-up watch) and the reply deadline check.
 *
 * <p>Failure is final: the first problem (end of stream, an unanswered request, a malformed or
 * unexpected reply, a send error) is logged once at ERROR with the peer and the message it
 * concerns, fails every pending and later request with a {@link VhostUserException}, closes the
 * socket and tells the failure listeners. {@link #peerGone()} then says whether the back-end went
 * away (end of stream, hang-up, reset, broken pipe: it no longer touches guest memory once its
 * process is gone) or is alive but stalled or misbehaving (it may still write guest memory).
 */
public final class VhostUserConnection implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(VhostUserConnection.class);
    private static final Duration READER_DRAIN = Duration.ofSeconds(1);

    /** A queued request; {@code sent} (may be null) completes once its bytes are written, or fails with the connection. */
    private record Outgoing(VhostUserMessage message, PendingReply reply, String what, CompletableFuture<Void> sent) {
        void failed(VhostUserException e) {
            if (reply != null) {
                reply.future.completeExceptionally(e);
            }
            if (sent != null) {
                sent.completeExceptionally(e);
            }
        }
    }

    private final String peer;
    private final Duration replyTimeout;
    private final EventContext context;
    private final ConcurrentLinkedQueue<Outgoing> outbox = new ConcurrentLinkedQueue<>();
    private final ReentrantLock sendLock = new ReentrantLock();
    private final ArrayDeque<PendingReply> pending = new ArrayDeque<>();   // guarded by itself
    private final List<Consumer<VhostUserException>> failureListeners = new CopyOnWriteArrayList<>();
    private final ThreadLocal<int[]> deferDepth = ThreadLocal.withInitial(() -> new int[1]);
    private volatile VhostUserChannel channel;
    private volatile SocketChardev chardev;
    private volatile VhostUserException failure;
    private volatile boolean peerGone;
    private volatile int peerPid;
    private volatile boolean closing;
    private volatile Thread reader;
    /** In controlled mode (the explorer) the replies are read by callbacks on this context instead of a thread. */
    private volatile EventContext readerContext;
    private volatile Registration deadlineTimer;
    private final CompletableFuture<Void> connectedOnce = new CompletableFuture<>();

    private VhostUserConnection(String peer, Duration replyTimeout, EventContext context) {
        this.peer = peer;
        this.replyTimeout = replyTimeout;
        this.context = context;
    }

    /**
     * Connects through a socket chardev: as a client it retries until the spec's connect
     * timeout, as a server it waits that long for the back-end to connect.
     *
     * @param owner names the device in the peer description ("vhost-user back-end of fs0 ...")
     * @throws VhostUserException if no connection is made in time
     */
    public static VhostUserConnection open(String owner, SocketChardevSpec spec, Duration replyTimeout) {
        Objects.requireNonNull(spec, "spec");
        if (replyTimeout.isNegative() || replyTimeout.isZero()) {
            throw new IllegalArgumentException(owner + ": vhost-user reply timeout must be positive, got " + replyTimeout);
        }
        String peer = "vhost-user back-end of " + owner + " (chardev '" + spec.id() + "', "
                + (spec.server() ? "server on " : "client of ") + spec.path() + ")";
        EventContext ctx = EventContext.start("vhost-" + owner);
        VhostUserConnection c = new VhostUserConnection(peer, replyTimeout, ctx);
        try {
            // A server waits for its back-end; nobody reconnects: the back-end's state (memory
            // table, rings) dies with the connection, so the device stays broken until reset.
            SocketChardevSpec once = new SocketChardevSpec(spec.id(), spec.path(), spec.server(), spec.server(),
                    null, spec.connectTimeout());
            c.chardev = SocketChardev.open(once, ctx, c.new Listener());
            ctx.waitUntil(() -> c.channel != null, spec.connectTimeout(), "the vhost-user connection of " + owner);
            c.scheduleDeadlineCheck();
            return c;
        } catch (RuntimeException e) {
            c.close();
            throw new VhostUserException(peer + ": cannot connect: " + e.getMessage(), e);
        }
    }

    /**
     * Listens on a server chardev's path without waiting for a back-end: one that connects later
     * is accepted on the connection's context ({@link #awaitConnected}). For a device whose
     * back-end failed, so that a new one can connect at any time before the driver's reset.
     *
     * @throws VhostUserException if the path cannot be listened on
     */
    public static VhostUserConnection listen(String owner, SocketChardevSpec spec, Duration replyTimeout) {
        if (!spec.server()) {
            throw new IllegalArgumentException(owner + ": chardev '" + spec.id() + "' is a client; only a server listens");
        }
        String peer = "vhost-user back-end of " + owner + " (chardev '" + spec.id() + "', server on " + spec.path() + ")";
        EventContext ctx = EventContext.start("vhost-" + owner);
        VhostUserConnection c = new VhostUserConnection(peer, replyTimeout, ctx);
        try {
            SocketChardevSpec listening = new SocketChardevSpec(spec.id(), spec.path(), true, false, null, spec.connectTimeout());
            c.chardev = SocketChardev.open(listening, ctx, c.new Listener());
            c.scheduleDeadlineCheck();
            return c;
        } catch (RuntimeException e) {
            c.close();
            throw new VhostUserException(peer + ": cannot listen: " + e.getMessage(), e);
        }
    }

    /** Waits up to {@code timeout} for a back-end to be connected; false if none is (or the connection ended). */
    public boolean awaitConnected(Duration timeout) {
        try {
            connectedOnce.get(timeout.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.TimeoutException | java.util.concurrent.ExecutionException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
        return channel != null && isHealthy();
    }

    /** Wraps an already connected socket (tests, socketpairs, fds handed over by a manager). */
    public static VhostUserConnection adopt(String peer, UnixSocketChannel socket, Duration replyTimeout) {
        EventContext ctx = EventContext.start("vhost-" + peer.replace(' ', '-'));
        VhostUserConnection c = new VhostUserConnection(peer, replyTimeout, ctx);
        c.connected(socket);
        c.scheduleDeadlineCheck();
        return c;
    }

    private final class Listener implements SocketChardev.Listener {
        @Override
        public void onConnected(UnixSocketChannel socket) {
            connected(socket);
        }

        @Override
        public void onDisconnected(String why) {
            if (failure != null || closing) {
                return;   // we are the ones closing it
            }
            // Let the reader take the replies still buffered before the socket is closed, so the
            // failure names the first request that really went unanswered.
            Thread r = reader;
            if (r != null && r != Thread.currentThread()) {
                try {
                    r.join(READER_DRAIN.toMillis());
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            fail("connection lost (" + why + ")" + awaited(), null, true);
        }
    }

    private void connected(UnixSocketChannel socket) {
        // A back-end that stops reading fills the socket: a send (on a vCPU thread, under the
        // transport's lock) then fails after the reply timeout instead of holding the vCPU for ever.
        socket.setSendTimeout(replyTimeout);
        peerPid = socket.peerPid();
        channel = new VhostUserChannel(socket, peer);
        if (context.controller() != null) {
            // Controlled (the explorer): one reply per callback of a context of the same controller.
            EventContext rx = context.startSibling("vhost-rx-" + context.name());
            readerContext = rx;
            Registration[] watch = new Registration[1];
            watch[0] = rx.addReadable(socket.fd(), "replies of " + peer, () -> {
                ReadFailure f = failure != null || closing ? new ReadFailure("", false) : readReply(channel);
                if (f != null) {
                    watch[0].cancel();   // before the socket is closed
                    if (!f.why().isEmpty()) {
                        fail(f.why(), null, f.gone());
                    }
                }
            });
            log.debug("{}: connected (controlled)", peer);
            return;
        }
        Thread t = new Thread(this::readReplies, "vhost-rx-" + context.name());
        t.setDaemon(true);
        reader = t;
        t.start();
        connectedOnce.complete(null);
        log.debug("{}: connected", peer);
    }

    public String peer() {
        return peer;
    }

    public Duration replyTimeout() {
        return replyTimeout;
    }

    /** The failure that ended the connection, or null while it is healthy. */
    public VhostUserException failure() {
        return failure;
    }

    public boolean isHealthy() {
        return failure == null && !closing;
    }

    /**
     * Whether the connection failed because the back-end went away: end of stream, hang-up,
     * connection reset or a broken pipe. False while healthy, and for a failure of a back-end that
     * is still there (no reply in time, a send that could not go on, a malformed message): that one
     * may still map guest memory and complete requests later.
     */
    public boolean peerGone() {
        return failure != null && peerGone;
    }

    /** The back-end's pid when it connected (SO_PEERCRED), or 0 if unknown. */
    public int peerPid() {
        return peerPid;
    }

    /** Called once, on the failing thread, when the connection fails (not on a plain close). */
    public void onFailure(Consumer<VhostUserException> listener) {
        failureListeners.add(listener);
        VhostUserException f = failure;
        if (f != null && !closing) {
            listener.accept(f);
        }
    }

    // ---------------------------------------------------------------- sending

    /**
     * Queues a request that expects a reply (one the back-end always answers, or one sent with
     * NEED_REPLY). The future completes on the reader thread with the reply, whose header and
     * payload size have been checked against {@code replyPayload}, or fails with a
     * {@link VhostUserException}.
     */
    public CompletableFuture<VhostUserMessage> call(VhostUserMessage request, PayloadKind replyPayload, String what) {
        VhostUserRequest type = Objects.requireNonNull(request.type(), "request type");
        PendingReply p = new PendingReply(type, replyPayload, what);
        enqueue(new Outgoing(request, p, what, null));
        return p.future;
    }

    /** Queues a request that gets no reply; a send failure fails the connection. */
    public void post(VhostUserMessage request, String what) {
        enqueue(new Outgoing(request, null, what, null));
    }

    /**
     * As {@link #post}, and tells when the request left: the future completes once its bytes are
     * written to the socket (on the thread that sent it, see {@link #deferSending()}), and fails
     * if it is never sent. Nothing says the back-end has read it, let alone applied it.
     */
    public CompletableFuture<Void> postAndTrack(VhostUserMessage request, String what) {
        CompletableFuture<Void> sent = new CompletableFuture<>();
        enqueue(new Outgoing(request, null, what, sent));
        return sent;
    }

    private void enqueue(Outgoing o) {
        VhostUserException f = failure;
        if (f != null || closing) {
            o.failed(f != null ? f : closedError(o.what));
            return;
        }
        outbox.add(o);
        if (deferDepth.get()[0] == 0) {
            flush();
        }
    }

    /** A scope in which this thread's requests are queued but not sent; closing it sends them. */
    public interface DeferredSending extends AutoCloseable {
        @Override
        void close();
    }

    /**
     * Holds this thread's requests in the queue until the returned scope is closed, so a caller
     * can queue under its own lock and send after releasing it.
     */
    public DeferredSending deferSending() {
        int[] depth = deferDepth.get();
        depth[0]++;
        return () -> {
            if (--depth[0] == 0) {
                flush();
            }
        };
    }

    /** Sends everything queued (or leaves it to the thread already sending). */
    public void flush() {
        while (!outbox.isEmpty()) {
            if (!sendLock.tryLock()) {
                return;   // the holder re-checks the queue after unlocking, and sends ours
            }
            try {
                for (Outgoing o; (o = outbox.poll()) != null; ) {
                    sendOne(o);
                }
            } finally {
                sendLock.unlock();
            }
        }
    }

    private void sendOne(Outgoing o) {
        VhostUserException f = failure;
        if (f != null || closing) {
            o.failed(f != null ? f : closedError(o.what));
            return;
        }
        if (o.reply != null) {
            // Registered before the bytes leave, or the reply could beat its registration.
            o.reply.deadlineNanos = System.nanoTime() + replyTimeout.toNanos();
            synchronized (pending) {
                pending.add(o.reply);
            }
        }
        try {
            channel.send(o.message);
        } catch (RuntimeException e) {
            fail("sending " + o.what + " failed: " + e.getMessage(), null, isGone(e));
            if (o.sent != null) {
                o.sent.completeExceptionally(failure != null ? failure : closedError(o.what));
            }
            return;
        }
        if (o.sent != null) {
            o.sent.complete(null);
        }
        if (log.isTraceEnabled()) {
            log.trace("{}: sent {}", peer, o.what);
        }
    }

    private VhostUserException closedError(String what) {
        return new VhostUserException(peer + ": connection closed; " + what + " not sent");
    }

    // ---------------------------------------------------------------- receiving

    private void readReplies() {
        VhostUserChannel ch = channel;
        while (failure == null && !closing) {
            ReadFailure f = readReply(ch);
            if (f != null) {
                fail(f.why(), null, f.gone());
                return;
            }
        }
    }

    /** Why the connection must fail after a receive, and whether the back-end is gone (end of stream, reset). */
    private record ReadFailure(String why, boolean gone) {
    }

    /** Receives and delivers one reply; returns why the connection must fail, or null. */
    private ReadFailure readReply(VhostUserChannel ch) {
        VhostUserMessage m;
        try {
            m = ch.receive();
        } catch (EndOfStreamException e) {
            return new ReadFailure((e.received() == 0 ? "back-end closed the connection"
                    : "back-end closed the connection in the middle of a message (" + e.received() + " of " + e.expected() + " bytes)")
                    + awaited(), true);
        } catch (VhostUserProtocolException e) {
            String detail = e.getMessage().startsWith(peer + ": ") ? e.getMessage().substring(peer.length() + 2) : e.getMessage();
            return new ReadFailure("malformed message: " + detail + awaited(), false);
        } catch (NativeException e) {
            boolean reset = "ECONNRESET".equals(e.errnoName());
            return new ReadFailure((reset ? "back-end closed the connection (reset)" : "receive failed: " + e.getMessage()) + awaited(), reset);
        } catch (RuntimeException e) {
            return new ReadFailure("receive failed: " + e.getMessage() + awaited(), false);
        }
        deliver(m);
        return null;
    }

    /**
     * Controlled mode (the explorer): a blocking wait for {@code f} would stall the one thread
     * that runs everything, so the controller runs the other work until {@code f} is done.
     * With threads of its own the connection does nothing here.
     */
    void letControllerComplete(java.util.concurrent.Future<?> f, Duration timeout, String what) {
        if (context.controller() != null) {
            context.waitUntil(f::isDone, timeout, what);
        }
    }

    private void deliver(VhostUserMessage m) {
        PendingReply p;
        synchronized (pending) {
            p = pending.poll();
        }
        String problem = check(m, p);
        if (problem != null) {
            Fds.closeQuietly(m.fds());
            fail(problem, p);
            return;
        }
        p.future.complete(m);
    }

    /** What is wrong with m as the reply to p, or null if it is a proper reply. */
    private static String check(VhostUserMessage m, PendingReply p) {
        if (p == null) {
            return "unsolicited " + m.name() + " (flags 0x" + Integer.toHexString(m.flags()) + ") while no request awaits a reply";
        }
        if (!m.isReply()) {
            return "expected the reply to " + p.what + ", got a " + m.name() + " without the REPLY flag";
        }
        if (m.request() != p.request.id()) {
            return "reply to " + p.what + " is marked as a reply to " + m.name();
        }
        if (m.fds().length > 0) {
            return "reply to " + p.what + " carries " + m.fds().length + " unexpected fd(s)";
        }
        boolean emptyConfigFailure = p.request == VhostUserRequest.GET_CONFIG && m.payload().length == 0;
        if (!emptyConfigFailure && !p.replyPayload.accepts(m.payload().length)) {
            return "reply to " + p.what + " has a " + m.payload().length + "-byte payload, not a valid " + p.replyPayload + " payload";
        }
        return null;
    }

    // ---------------------------------------------------------------- deadlines and failure

    private void scheduleDeadlineCheck() {
        long tickMs = Math.max(5, Math.min(100, replyTimeout.toMillis() / 5));
        deadlineTimer = context.schedule(Duration.ofMillis(tickMs), "reply deadline check of " + peer, () -> {
            PendingReply head;
            synchronized (pending) {
                head = pending.peek();
            }
            if (head != null && System.nanoTime() - head.deadlineNanos > 0) {
                fail("no reply to " + head.what + " within " + replyTimeout.toMillis() + " ms");
            }
            if (failure == null && !closing) {
                scheduleDeadlineCheck();
            }
        });
    }

    /** " (awaiting the reply to X)" or "", for failure messages. */
    private String awaited() {
        synchronized (pending) {
            PendingReply head = pending.peek();
            return head == null ? "" : " while " + head.what + " awaited its reply"
                    + (pending.size() > 1 ? " (and " + (pending.size() - 1) + " more)" : "");
        }
    }

    /** A send error that means the peer has gone (its end is closed), not that it is slow. */
    private static boolean isGone(RuntimeException e) {
        return e instanceof NativeException n && ("EPIPE".equals(n.errnoName()) || "ECONNRESET".equals(n.errnoName()));
    }

    /**
     * Ends the connection because of {@code reason} (a back-end still there: see
     * {@link #peerGone()}); only the first call has an effect.
     */
    public void fail(String reason) {
        fail(reason, null, false);
    }

    private void fail(String reason, PendingReply culprit) {
        fail(reason, culprit, false);
    }

    /**
     * As {@link #fail(String)}; {@code culprit}, the request whose reply was wrong (no longer
     * pending), fails first so that its failure is the one a device reports; {@code gone}: the
     * back-end went away.
     */
    private void fail(String reason, PendingReply culprit, boolean gone) {
        VhostUserException e;
        synchronized (this) {
            if (failure != null || closing) {
                if (culprit != null) {
                    culprit.future.completeExceptionally(failure != null ? failure : closedError(culprit.what));
                }
                return;
            }
            e = new VhostUserException(peer + ": " + reason);
            peerGone = gone;
            failure = e;
        }
        log.error("{}: {}", peer, reason);
        if (culprit != null) {
            culprit.future.completeExceptionally(e);
        }
        failPending(e);
        closeChannel();
        for (Consumer<VhostUserException> l : failureListeners) {
            try {
                l.accept(e);
            } catch (RuntimeException ex) {
                log.error("{}: failure listener failed", peer, ex);
            }
        }
    }

    private void failPending(VhostUserException e) {
        while (true) {
            PendingReply p;
            synchronized (pending) {
                p = pending.poll();
            }
            if (p == null) {
                break;
            }
            p.future.completeExceptionally(e);
        }
        flush();   // whatever is still queued fails in sendOne
    }

    /**
     * Closes the socket, waking the reader. With a chardev the chardev does it (on its context,
     * after dropping its hang-up watch, so no stale registration outlives the fd).
     */
    private void closeChannel() {
        SocketChardev c = chardev;
        if (c != null) {
            c.disconnect("vhost-user connection failed");
            return;
        }
        VhostUserChannel ch = channel;
        if (ch != null) {
            ch.close();
        }
    }

    /** Closes the connection (no failure is reported); pending requests fail. Idempotent. */
    @Override
    public void close() {
        synchronized (this) {
            if (closing) {
                return;
            }
            closing = true;
        }
        failPending(new VhostUserException(peer + ": connection closed"));
        connectedOnce.completeExceptionally(new VhostUserException(peer + ": connection closed"));
        if (deadlineTimer != null) {
            deadlineTimer.cancel();
        }
        SocketChardev c = chardev;
        if (c != null) {
            c.close();   // closes the socket too, which ends the reader
        } else if (channel != null) {
            channel.close();
        }
        EventContext rx = readerContext;
        if (rx != null) {
            rx.close();
        }
        context.close();
        log.debug("{}: closed", peer);
    }

    @Override
    public String toString() {
        return peer + (failure != null ? " (failed)" : closing ? " (closed)" : "");
    }
}
