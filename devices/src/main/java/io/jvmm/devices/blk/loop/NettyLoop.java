package io.jvmm.devices.blk.loop;

import io.jvmm.chardev.SyncWaitTimeoutException;
import io.jvmm.chardev.WatchedContext;
import io.jvmm.chardev.Watchdog;
import io.netty.channel.IoEventLoop;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A named event context (rule 5) that is one Netty event loop on its own thread, for the sockets
 * that carry no fds (the NBD listener, NBD connections) and for the block layer's control plane
 * (the {@linkplain #main() main loop}, where images are opened). Shared loops are reference
 * counted: {@link #acquire} starts the loop with its first user and the last {@link Lease#close}
 * stops it, so nothing is left running once every user has closed.
 *
 * <p>A Netty loop cannot run nested, so a synchronous wait on its own thread ({@link #await})
 * blocks that thread: whatever the wait depends on must run on <em>another</em> loop. The
 * {@link Watchdog} watches such a wait; the loop counts as making progress while it runs the probe
 * tasks the watchdog's checks send it, so a loop whose thread is blocked is reported, naming what
 * the wait is for.
 */
public final class NettyLoop implements WatchedContext {
    private static final Logger log = LoggerFactory.getLogger(NettyLoop.class);
    /** The block layer's control plane: opens of images and their backing files run here. */
    public static final String MAIN = "main-loop";
    private static final Map<String, NettyLoop> SHARED = new ConcurrentHashMap<>();

    private final String name;
    private final MultiThreadIoEventLoopGroup group;
    private final IoEventLoop loop;
    private final Thread thread;
    private final AtomicLong probes = new AtomicLong();
    private final AtomicBoolean probePending = new AtomicBoolean();
    private volatile String running = "nothing";
    private int users;   // guarded by SHARED's compute

    private NettyLoop(String name) {
        this.name = name;
        this.group = new MultiThreadIoEventLoopGroup(1, new DefaultThreadFactory("loop-" + name, true), EpollIoHandler.newFactory());
        this.loop = (IoEventLoop) group.next();
        try {
            this.thread = loop.submit(Thread::currentThread).get(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            group.shutdownGracefully(0, 0, TimeUnit.SECONDS);
            throw new IllegalStateException("interrupted while starting event loop " + name, e);
        } catch (ExecutionException | TimeoutException e) {
            group.shutdownGracefully(0, 0, TimeUnit.SECONDS);
            throw new IllegalStateException("event loop " + name + " did not start", e);
        }
    }

    /** A use of a shared loop; closing the last one stops the loop. */
    public interface Lease extends AutoCloseable {
        NettyLoop loop();

        @Override
        void close();
    }

    /** Starts using the shared loop {@code name} (starting it if it is not running). */
    public static Lease acquire(String name) {
        NettyLoop l = SHARED.compute(name, (k, v) -> {
            NettyLoop x = v == null ? new NettyLoop(k) : v;
            x.users++;
            return x;
        });
        AtomicBoolean closed = new AtomicBoolean();
        return new Lease() {
            @Override
            public NettyLoop loop() {
                return l;
            }

            @Override
            public void close() {
                if (closed.compareAndSet(false, true)) {
                    release(l);
                }
            }
        };
    }

    /** The main loop (acquired by the caller; close the lease when done). */
    public static Lease main() {
        return acquire(MAIN);
    }

    private static void release(NettyLoop l) {
        boolean[] stop = {false};
        SHARED.computeIfPresent(l.name, (k, v) -> {
            if (v != l) {
                return v;
            }
            if (--v.users > 0) {
                return v;
            }
            stop[0] = true;
            return null;
        });
        if (stop[0]) {
            l.stop();
        }
    }

    private void stop() {
        log.debug("stopping event loop {}", name);
        io.netty.util.concurrent.Future<?> f = group.shutdownGracefully(0, 2, TimeUnit.SECONDS);
        if (!loop.inEventLoop()) {
            f.awaitUninterruptibly(10, TimeUnit.SECONDS);
        }
    }

    /** The Netty loop (register channels on it). */
    public IoEventLoop eventLoop() {
        return loop;
    }

    @Override
    public String name() {
        return name;
    }

    public boolean inLoop() {
        return loop.inEventLoop();
    }

    @Override
    public long progress() {
        if (probePending.compareAndSet(false, true)) {
            try {
                loop.execute(() -> {
                    probes.incrementAndGet();
                    probePending.set(false);
                });
            } catch (RuntimeException e) {   // shutting down: no more progress
                probePending.set(false);
            }
        }
        return probes.get();
    }

    @Override
    public Thread thread() {
        return thread;
    }

    @Override
    public String running() {
        return running;
    }

    /**
     * Runs {@code task} on this loop and waits for its result from another thread (when called on
     * the loop, runs it directly).
     */
    public <T> T call(String what, Callable<T> task, Duration timeout) {
        if (inLoop()) {
            return runNamed(what, task);
        }
        CompletableFuture<T> f = new CompletableFuture<>();
        loop.execute(() -> {
            try {
                f.complete(runNamed(what, task));
            } catch (Throwable t) {
                f.completeExceptionally(t);
            }
        });
        return await(f, timeout, what);
    }

    private <T> T runNamed(String what, Callable<T> task) {
        String outer = running;
        running = what;
        try {
            return task.call();
        } catch (RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new IllegalStateException(what + ": " + e.getMessage(), e);
        } finally {
            running = outer;
        }
    }

    /**
     * A synchronous wait for {@code future}: blocks the calling thread (never runs a nested loop),
     * watched by the {@link Watchdog} on the context it blocks (this loop when called on it, the
     * loop that does the work otherwise) under the name {@code what}.
     *
     * @throws SyncWaitTimeoutException naming the context and what at the timeout
     */
    public <T> T await(CompletableFuture<T> future, Duration timeout, String what) {
        String outer = running;
        boolean here = inLoop();
        if (here) {
            running = "a blocking wait for " + what;
        }
        long start = System.nanoTime();
        try (Watchdog.Watch w = Watchdog.instance().watch(this, what, Thread.currentThread())) {
            return future.get(timeout.toNanos(), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            future.cancel(false);
            throw new SyncWaitTimeoutException(name, what, Duration.ofNanos(System.nanoTime() - start),
                    here ? "the wait blocks this loop's own thread" : "");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for " + what, e);
        } catch (ExecutionException e) {
            Throwable c = e.getCause();
            if (c instanceof RuntimeException r) {
                throw r;
            }
            throw new IllegalStateException(what + ": " + c.getMessage(), c);
        } finally {
            if (here) {
                running = outer;
            }
        }
    }

    @Override
    public String toString() {
        return "event loop " + name;
    }
}
