package io.jvmm.devices.p9.server;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;

/**
 * One client's 9P session: its fids, its negotiated msize and its requests in flight, served
 * many at once on the server's workers and answered in any order.
 *
 * <p>Tflush, exactly (rule 4): a Tflush for an unknown or finished tag, or for itself, is answered
 * at once. A victim that has not started is cancelled (no reply; the transport releases its slot)
 * and the Rflush follows. A victim that is running finishes, its reply goes out, then every
 * Tflush that named it is answered in the order received; a Tflush naming a Tflush is answered
 * after the one it names. All of this happens under the session's lock, in the order the
 * transport is told, so the wire order is exactly that. Nothing is left behind: every tag leaves
 * the table when its reply (or cancellation) is out. {@link FlushMode#HISTORIC} drops every
 * Tflush after the first for one victim, as QEMU did before 2017: never answered, never released.
 */
public final class P9Session {
    private static final Logger log = LoggerFactory.getLogger(P9Session.class);

    private final P9Server server;
    private final P9Connection connection;
    private final Map<Integer, Request> tags = new HashMap<>();     // guarded by this
    final ConcurrentHashMap<Integer, Fid> fids = new ConcurrentHashMap<>();
    private volatile int msize;
    private boolean closed;                                          // guarded by this
    private long leaked;                                             // guarded by this

    P9Session(P9Server server, P9Connection connection) {
        this.server = server;
        this.connection = connection;
        this.msize = server.config().maxMsize();
    }

    public P9Server server() {
        return server;
    }

    public int msize() {
        return msize;
    }

    void msize(int value) {
        msize = value;
    }

    /** Tags held: requests received and not yet answered or cancelled (leaked ones included). */
    public synchronized int outstandingTags() {
        return tags.size();
    }

    public int fidCount() {
        return fids.size();
    }

    /** Tflush messages dropped by the historic mode (never answered). */
    public synchronized long leakedFlushes() {
        return leaked;
    }

    /**
     * One whole message from the client (size field already checked against what arrived). The
     * session owns {@code message} from here on. {@code context} is handed back with the reply.
     */
    public void receive(ByteBuf message, Object context) {
        int size = message.readableBytes();
        if (size < P9.HEADER) {
            message.release();
            throw new IllegalArgumentException("a 9P message of " + size + " bytes is shorter than its header");
        }
        int type = message.getUnsignedByte(4);
        int tag = message.getUnsignedShortLE(5);
        Request r = new Request(tag, type, message, context);
        server.metrics().received(type);
        synchronized (this) {
            if (closed) {
                release(r);
                return;
            }
            if (size > msize) {
                sendError(r, Errno.EMSGSIZE, "message of " + size + " bytes exceeds msize " + msize);
                return;
            }
            if (type == P9.TVERSION) {
                // Answered inline: a new session starts here (the client has nothing else in flight).
                sendNow(r, server.ops().version(this, r));
                return;
            }
            if (tags.containsKey(tag)) {
                log.warn("9P {}: {} reuses tag {}, still in flight; refused with EINVAL", connection.describe(), P9.name(type), tag);
                sendError(r, Errno.EINVAL, "tag in use");
                return;
            }
            if (type == P9.TFLUSH) {
                flush(r);
                return;
            }
            if (tags.size() >= server.config().maxTags()) {
                log.warn("9P {}: more than {} requests in flight; {} refused with EAGAIN", connection.describe(),
                        server.config().maxTags(), P9.name(type));
                sendError(r, Errno.EAGAIN, "too many requests in flight");
                return;
            }
            tags.put(tag, r);
            try {
                long delay = type == P9.TREAD || type == P9.TWRITE || type == P9.TREADDIR ? server.config().delay().toNanos() : 0;
                r.scheduled = delay > 0 ? server.scheduler().schedule(() -> run(r), delay, TimeUnit.NANOSECONDS)
                        : server.workers().submit(() -> run(r));
            } catch (RejectedExecutionException e) {
                tags.remove(tag);
                sendError(r, Errno.EIO, "server is shutting down");
            }
        }
    }

    private void flush(Request f) {
        server.metrics().flush();
        if (f.message.readableBytes() < P9.HEADER + 2) {
            sendError(f, Errno.EPROTO, "Tflush without oldtag");
            return;
        }
        int oldtag = f.message.getUnsignedShortLE(P9.HEADER);
        Request victim = tags.get(oldtag);
        if (victim == null || oldtag == f.tag) {
            sendNow(f, rflush(f));     // unknown, finished, or itself: at once
            return;
        }
        tags.put(f.tag, f);
        f.state = Request.State.WAITING;
        if (server.config().flush() == FlushMode.HISTORIC && victim.flushers != null && !victim.flushers.isEmpty()) {
            f.state = Request.State.LEAKED;   // QEMU before 2017: the second waiter is never woken
            leaked++;
            server.metrics().leaked();
            return;
        }
        victim.addFlusher(f);
        // Historic: QEMU before 2017 waited for the victim to run to its end, cancelled or not.
        if (victim.state == Request.State.QUEUED && server.config().flush() == FlushMode.EXACT) {
            victim.state = Request.State.CANCELLED;
            if (victim.scheduled != null) {
                victim.scheduled.cancel(false);
            }
            tags.remove(victim.tag);
            server.metrics().cancelled();
            connection.cancelled(victim);
            victim.message.release();
            answerFlushers(victim);
        }
    }

    /** On a worker: starts the request unless a flush cancelled it, then answers it. */
    private void run(Request r) {
        synchronized (this) {
            if (r.state != Request.State.QUEUED) {
                return;
            }
            r.state = Request.State.RUNNING;
        }
        java.util.function.Consumer<Request> hook = server.runningHook;
        if (hook != null) {
            hook.accept(r);
        }
        long start = System.nanoTime();
        ByteBuf reply;
        try {
            reply = server.ops().handle(this, r);
        } catch (P9Error e) {
            reply = rlerror(r.tag, e.errno());
            server.metrics().error(r.type);
            if (log.isDebugEnabled()) {
                log.debug("9P {}: {} tag {}: {}", connection.describe(), P9.name(r.type), r.tag, e.getMessage());
            }
        } catch (RuntimeException e) {
            reply = rlerror(r.tag, Errno.EIO);
            server.metrics().error(r.type);
            server.metrics().internalError();
            log.warn("9P {}: {} tag {} failed: {}", connection.describe(), P9.name(r.type), r.tag, e.toString(), e);
        }
        server.metrics().served(r.type, System.nanoTime() - start);
        finish(r, reply);
    }

    private synchronized void finish(Request r, ByteBuf reply) {
        r.message.release();
        r.state = Request.State.DONE;
        tags.remove(r.tag);
        if (closed) {
            reply.release();
            connection.cancelled(r);   // the transport still gets its slot back
        } else {
            connection.send(r, reply);
        }
        answerFlushers(r);
    }

    /** Answers every Tflush waiting on {@code victim}, in the order received, and theirs after each. */
    private void answerFlushers(Request victim) {
        List<Request> waiting = victim.flushers;
        if (waiting == null) {
            return;
        }
        victim.flushers = null;
        for (Request f : waiting) {
            f.state = Request.State.DONE;
            tags.remove(f.tag);
            if (!closed) {
                connection.send(f, rflush(f));
            } else {
                connection.cancelled(f);
            }
            f.message.release();
            answerFlushers(f);
        }
    }

    private ByteBuf rflush(Request f) {
        return P9.finish(P9.begin(PooledByteBufAllocator.DEFAULT.directBuffer(P9.HEADER), P9.TFLUSH + 1, f.tag));
    }

    static ByteBuf rlerror(int tag, int errno) {
        ByteBuf out = P9.begin(PooledByteBufAllocator.DEFAULT.directBuffer(P9.HEADER + 4), P9.RLERROR, tag);
        out.writeIntLE(errno);
        return P9.finish(out);
    }

    private void sendError(Request r, int errno, String why) {
        server.metrics().error(r.type);
        log.debug("9P {}: {} tag {} refused: {}", connection.describe(), P9.name(r.type), r.tag, why);
        sendNow(r, rlerror(r.tag, errno));
    }

    private void sendNow(Request r, ByteBuf reply) {
        r.message.release();
        connection.send(r, reply);
    }

    private void release(Request r) {
        r.message.release();
        connection.cancelled(r);
    }

    /**
     * The connection is gone (or the device reset): requests not started are cancelled, running
     * ones finish without a reply, and every fid is clunked. Returns once nothing is queued; the
     * running ones release their fids when they end.
     */
    public void close() {
        List<Request> dropped = new ArrayList<>();
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            for (Request r : tags.values()) {
                if (r.state == Request.State.QUEUED) {
                    r.state = Request.State.CANCELLED;
                    if (r.scheduled != null) {
                        r.scheduled.cancel(false);
                    }
                    dropped.add(r);
                } else if (r.state == Request.State.LEAKED) {
                    dropped.add(r);
                }
                // RUNNING requests finish and WAITING flushes follow their victims, without replies.
            }
            for (Request r : dropped) {
                tags.remove(r.tag);
                release(r);
            }
        }
        clunkAll();
    }

    /** Tversion: every fid of the previous session is clunked. */
    void clunkAll() {
        for (Integer id : List.copyOf(fids.keySet())) {
            Fid f = fids.remove(id);
            if (f != null) {
                server.ops().clunkQuietly(f);
            }
        }
    }

    synchronized boolean isClosed() {
        return closed;
    }

    public P9Connection connection() {
        return connection;
    }

    /** Requests running or waiting, for tests and logs. */
    public synchronized String describeInFlight() {
        return tags.values().toString();
    }
}
