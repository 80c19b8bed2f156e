package io.jvmm.devices.p9.server;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A 9P2000.L file server for one exported directory: its root (an O_PATH descriptor every lookup
 * starts from), the workers that run file operations, and the sessions of its clients. The same
 * server runs in-process behind virtio-9p-pci and standalone behind a socket ({@link P9SocketServer}).
 *
 * <p>Limits: fids per connection ({@link P9ServerConfig#maxFids()}), requests in flight per
 * connection ({@link P9ServerConfig#maxTags()}), the message size (msize); every fid holds one or
 * two descriptors and an open file one more, so the process's RLIMIT_NOFILE (raised to its hard
 * limit at start) bounds them all: running out is EMFILE / ENFILE to the client.
 */
public final class P9Server implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(P9Server.class);

    private final P9ServerConfig config;
    private final String name;
    private final P9ServerMetrics metrics;
    private final Node root;
    private final long rootDev;
    private final long rootIno;
    private final ThreadPoolExecutor workers;
    private final ScheduledThreadPoolExecutor scheduler;
    private final P9Ops ops;
    private final Set<P9Session> sessions = ConcurrentHashMap.newKeySet();
    /** Tests only: runs on the worker after a request has started and before it is handled (to hold it there). */
    volatile java.util.function.Consumer<Request> runningHook;

    /**
     * Opens the export.
     *
     * @throws IllegalArgumentException naming the directory when it cannot be served
     */
    public P9Server(String name, P9ServerConfig config, P9ServerMetrics metrics) {
        this.config = config;
        this.name = name;
        this.metrics = metrics;
        int fd;
        try {
            fd = Sys.openat(Sys.AT_FDCWD, config.root().toString(), Sys.O_PATH | Sys.O_DIRECTORY, 0);
        } catch (P9Error e) {
            throw new IllegalArgumentException("cannot export " + config.root() + ": " + Errno.name(e.errno())
                    + (e.errno() == Errno.ENOTDIR ? " (not a directory)" : ""), e);
        }
        this.root = new Node(fd);
        Sys.Stat st = Sys.fstat(fd);
        this.rootDev = st.dev();
        this.rootIno = st.ino();
        long nofile = Sys.raiseOpenFileLimit();
        if (config.security() == SecurityModel.PASSTHROUGH && Sys.geteuid() != 0) {
            log.warn("9P {}: security_model=passthrough but the server does not run as root: creating files for other "
                    + "users and changing owners will fail (EPERM); use mapped-xattr or none", name);
        }
        AtomicInteger n = new AtomicInteger();
        this.workers = new ThreadPoolExecutor(config.threads(), config.threads(), 30, TimeUnit.SECONDS,
                new LinkedBlockingQueue<>(), r -> {
            Thread t = new Thread(r, "9p-" + name + "-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
        this.scheduler = new ScheduledThreadPoolExecutor(1, r -> {
            Thread t = new Thread(r, "9p-" + name + "-delay");
            t.setDaemon(true);
            return t;
        });
        scheduler.setRemoveOnCancelPolicy(true);
        this.ops = new P9Ops(this);
        metrics.outstanding(this::outstandingTags);
        log.info("9P {}: serving {} ({}{}, msize up to {}, {} fids and {} requests per connection, RLIMIT_NOFILE {}{})",
                name, config.root(), config.security().option(), config.readOnly() ? ", read-only" : "", config.maxMsize(),
                config.maxFids(), config.maxTags(), nofile, config.flush() == FlushMode.HISTORIC ? ", x-flush=historic" : "");
    }

    public P9ServerConfig config() {
        return config;
    }

    public String name() {
        return name;
    }

    public P9ServerMetrics metrics() {
        return metrics;
    }

    /** A new client. */
    public P9Session open(P9Connection connection) {
        P9Session s = new P9Session(this, connection);
        sessions.add(s);
        return s;
    }

    /** The client is gone: its queued requests are cancelled and its fids clunked. */
    public void closed(P9Session session) {
        session.close();
        sessions.remove(session);
    }

    /** Tags held by every session (requests received and not answered). */
    public int outstandingTags() {
        int n = 0;
        for (P9Session s : sessions) {
            n += s.outstandingTags();
        }
        return n;
    }

    Node root() {
        return root;
    }

    long rootDev() {
        return rootDev;
    }

    boolean isRoot(Sys.Stat st) {
        return st.dev() == rootDev && st.ino() == rootIno;
    }

    /** A qid path: the inode number, with the device mixed in for files on other file systems. */
    long qidPath(long dev, long ino) {
        return dev == rootDev ? ino : ino ^ (dev << 48) ^ (1L << 63);
    }

    ExecutorService workers() {
        return workers;
    }

    ScheduledExecutorService scheduler() {
        return scheduler;
    }

    P9Ops ops() {
        return ops;
    }

    @Override
    public void close() {
        for (P9Session s : sessions) {
            closed(s);
        }
        scheduler.shutdownNow();
        workers.shutdown();
        try {
            if (!workers.awaitTermination(10, TimeUnit.SECONDS)) {
                log.warn("9P {}: file operations still running after 10 s at shutdown", name);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        root.release();
    }
}
