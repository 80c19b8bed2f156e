package io.jvmm.chardev;

import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Watches every active synchronous wait in the process (ARCHITECTURE.md rule 5). A wait whose
 * event context dispatches nothing for longer than the threshold is reported once per stall: a
 * WARN log line naming the context, what it waits for, for how long, and what the context's
 * thread is doing, and a {@link StalledWaitReport} to every subscriber. The wait itself still
 * ends at its own timeout with a {@link SyncWaitTimeoutException}; the report is the early,
 * explanatory warning.
 *
 * <p>One per process, on a daemon thread started with the first watched wait. The threshold
 * defaults to 1 s, or the system property {@code jvmm.watchdog.threshold.ms}.
 */
public final class Watchdog {
    private static final Logger log = LoggerFactory.getLogger(Watchdog.class);
    private static final Watchdog INSTANCE = new Watchdog();
    private static final int STACK_FRAMES = 8;

    private final Set<Watch> watches = ConcurrentHashMap.newKeySet();
    private final List<Consumer<StalledWaitReport>> subscribers = new CopyOnWriteArrayList<>();
    private volatile Duration threshold = Duration.ofMillis(Long.getLong("jvmm.watchdog.threshold.ms", 1000));
    private Thread thread;

    private Watchdog() {
    }

    public static Watchdog instance() {
        return INSTANCE;
    }

    public Duration threshold() {
        return threshold;
    }

    /** Sets how long a wait may go without progress before it is reported (process-wide). */
    public void setThreshold(Duration threshold) {
        if (threshold.isNegative() || threshold.isZero()) {
            throw new IllegalArgumentException("watchdog threshold must be positive, got " + threshold);
        }
        this.threshold = threshold;
    }

    /** A subscription to reports; close it to unsubscribe. */
    public interface Subscription extends AutoCloseable {
        @Override
        void close();
    }

    /** Calls listener (on the watchdog thread) with every future report. */
    public Subscription subscribe(Consumer<StalledWaitReport> listener) {
        subscribers.add(listener);
        return () -> subscribers.remove(listener);
    }

    /**
     * Starts watching a wait that depends on {@code context} (an {@link EventContext} does this
     * itself in {@code waitUntil}; a blocking wait for another kind of loop calls it directly); close
     * the returned watch when the wait ends.
     */
    public Watch watch(WatchedContext context, String what, Thread waiter) {
        Watch w = new Watch(context, what, waiter);
        watches.add(w);
        ensureRunning();
        return w;
    }

    private synchronized void ensureRunning() {
        if (thread == null) {
            thread = new Thread(this::run, "jvmm-watchdog");
            thread.setDaemon(true);
            thread.start();
        }
    }

    private void run() {
        while (true) {
            long period = Math.max(5, Math.min(100, threshold.toMillis() / 4));
            try {
                Thread.sleep(period);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
            for (Watch w : watches) {
                try {
                    check(w);
                } catch (RuntimeException e) {
                    log.error("watchdog check of {} failed", w.what, e);
                }
            }
        }
    }

    private void check(Watch w) {
        long now = System.nanoTime();
        long progress = w.context.progress();
        if (progress != w.lastProgress) {
            w.lastProgress = progress;
            w.lastProgressNanos = now;
            w.reported = false;
            return;
        }
        long stalledNanos = now - w.lastProgressNanos;
        if (w.reported || stalledNanos < threshold.toNanos() || !watches.contains(w)) {
            return;
        }
        w.reported = true;
        Thread ct = w.context.thread();
        StackTraceElement[] stack = ct.getStackTrace();
        StalledWaitReport report = new StalledWaitReport(w.context.name(), w.what, w.waiter.getName(),
                Duration.ofNanos(now - w.startNanos), Duration.ofNanos(stalledNanos),
                ct.getName() + " (" + ct.getState() + ")", w.context.running(),
                Arrays.asList(stack).subList(0, Math.min(STACK_FRAMES, stack.length)));
        log.warn(report.message());
        for (Consumer<StalledWaitReport> s : subscribers) {
            try {
                s.accept(report);
            } catch (RuntimeException e) {
                log.error("watchdog subscriber failed", e);
            }
        }
    }

    /** One active synchronous wait. Fields other than the finals are touched by the watchdog thread only. */
    public final class Watch implements AutoCloseable {
        private final WatchedContext context;
        private final String what;
        private final Thread waiter;
        private final long startNanos = System.nanoTime();
        private long lastProgress;
        private long lastProgressNanos;
        private boolean reported;

        private Watch(WatchedContext context, String what, Thread waiter) {
            this.context = context;
            this.what = what;
            this.waiter = waiter;
            this.lastProgress = context.progress();
            this.lastProgressNanos = startNanos;
        }

        @Override
        public void close() {
            watches.remove(this);
        }
    }
}
