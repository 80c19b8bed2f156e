package io.jvmm.chardev;

import static io.jvmm.chardev.nativ.LinuxConstants.EPOLLIN;
import static io.jvmm.chardev.nativ.LinuxConstants.EPOLLRDHUP;

import io.jvmm.chardev.nativ.Epoll;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.PriorityQueue;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;
import java.util.function.LongConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An event context (ARCHITECTURE.md rule 5): a single-threaded epoll loop on its own named
 * thread that owns the I/O sources registered on it (readable fds, eventfds, hang-up watches),
 * its timers and its tasks. Every callback runs on that thread, one at a time.
 *
 * <p>{@link #waitUntil} is the synchronous wait: on the context's own thread it runs a nested
 * loop over this context's sources only, so everything the wait depends on (a listener that must
 * accept a connection, a reply handler) has to be registered here; from another thread it simply
 * blocks. Either way the {@link Watchdog} reports a wait that makes no progress, and the wait
 * fails with {@link SyncWaitTimeoutException} at its timeout.
 *
 * <p>A callback that throws is logged at ERROR; an fd source whose callback throws is cancelled
 * (a level-triggered fd left unread would otherwise spin the loop). A source whose callback is
 * still running in an outer frame when a nested loop sees it ready again is parked until that
 * callback returns, so callbacks are never re-entered.
 *
 * <p>{@link #close()} stops the thread and closes the epoll fd and wakeup eventfd it created;
 * registered fds belong to whoever registered them and are left open.
 *
 * <p><b>Controlled mode</b> (a test seam, used by the control-plane interleaving explorer): a context
 * started while a {@link Controller} is installed on the starting thread ({@link #controlledBy})
 * gets no thread. Its sources, tasks and waits are the same, but a controller decides which of its
 * ready callbacks runs next, on the controller's own thread ({@link #readySources},
 * {@link #dispatchSource}, {@link #runTask}), and {@link #waitUntil} hands the wait to the
 * controller. Timers never fire in this mode. A context with its own thread pays one null check per
 * queued task for this.
 *
 * <p><b>Polling</b> ({@link #addPoller}, {@link #setPollMaxNs}): before it sleeps, the loop may
 * spin for a while over its pollers, checks that need no system call (has the driver published
 * a buffer?), and run the handler of one that is ready at once. Waking a sleeping thread costs an
 * interrupt to a possibly halted CPU, tens of microseconds on a nested host; QEMU's iothreads do
 * the same for the same reason. The window adapts ({@link PollWindow}): an idle context does not
 * spin. Off (0) unless set. Nested waits and controlled contexts never poll.
 */
public final class EventContext implements Executor, AutoCloseable, WatchedContext {
    private static final Logger log = LoggerFactory.getLogger(EventContext.class);
    private static final long WAKEUP_KEY = 0;
    private static final int MAX_EVENTS = 64;
    /** Longest a waitUntil sleeps before re-evaluating a condition another thread may have changed. */
    private static final long RECHECK_MS = 5;
    private static final Duration CLOSE_JOIN = Duration.ofSeconds(5);

    /** The innermost controlled context whose callback the controller is running on this thread. */
    private static final ThreadLocal<EventContext> CONTROLLED_CURRENT = new ThreadLocal<>();
    /** The controller that contexts started by this thread are given (see {@link #controlledBy}). */
    private static final ThreadLocal<Controller> CONTROLLER = new ThreadLocal<>();

    private final String name;
    /** Null for a context with its own thread (the production case). */
    private final Controller controller;
    /** Null in controlled mode. */
    private final Thread thread;
    private final int epfd;
    private final EventFd wakeup;
    private final Object epollLock = new Object();
    private final ConcurrentHashMap<Long, FdSource> sources = new ConcurrentHashMap<>();
    private final ConcurrentLinkedQueue<Task> tasks = new ConcurrentLinkedQueue<>();
    private final PriorityQueue<Timer> timers = new PriorityQueue<>();
    private final AtomicLong nextKey = new AtomicLong(1);
    private final AtomicBoolean wakePending = new AtomicBoolean();
    private final AtomicBoolean stopping = new AtomicBoolean();
    private final AtomicLong progress = new AtomicLong();
    private final AtomicInteger foreignWaiters = new AtomicInteger();
    private final Object progressMonitor = new Object();
    private final List<Epoll.Events> eventBuffers = new ArrayList<>(); // one per nesting depth
    private volatile String running = "nothing";
    /** Sources checked by busy-polling before a sleep (copy-on-write; see {@link #addPoller}). */
    private volatile Poller[] pollers = new Poller[0];
    private final PollWindow pollWindow = new PollWindow(0);
    private volatile long polledDispatches;
    /** Context thread only: polling started (see {@link Poller#started}), and has not ended yet. */
    private boolean pollingStarted;
    private volatile boolean resourcesClosed;
    private int depth;
    // Controlled mode only, on the controller's thread.
    private int controlledDepth;
    private Epoll.Events controlledEvents;
    private final java.util.HashMap<Long, Integer> readyEvents = new java.util.HashMap<>();

    private EventContext(String name, Controller controller) {
        this.name = name;
        this.controller = controller;
        this.epfd = Epoll.create();
        try {
            this.wakeup = EventFd.create();
            Epoll.add(epfd, wakeup.fd(), EPOLLIN, WAKEUP_KEY, "wakeup of context " + name);
        } catch (RuntimeException e) {
            Fds.closeQuietly(epfd);
            throw e;
        }
        if (controller == null) {
            this.thread = new Thread(this::loop, "ctx-" + name);
            this.thread.setDaemon(true);
        } else {
            this.thread = null;
        }
    }

    /**
     * Creates a context and starts its thread, named {@code ctx-<name>}; or, while a
     * {@link Controller} is installed on the calling thread ({@link #controlledBy}), a controlled
     * context with no thread, handed to that controller.
     */
    public static EventContext start(String name) {
        return start(name, CONTROLLER.get());
    }

    /** A new context run the way this one is: on a thread of its own, or by this one's controller. */
    public EventContext startSibling(String name) {
        return start(name, controller);
    }

    private static EventContext start(String name, Controller controller) {
        Objects.requireNonNull(name, "name");
        EventContext c = new EventContext(name, controller);
        if (controller == null) {
            c.thread.start();
        } else {
            controller.adopted(c);
        }
        log.debug("event context '{}' started{}", name, controller == null ? "" : " (controlled)");
        return c;
    }

    @Override
    public String name() {
        return name;
    }

    /** True when called on this context's thread (controlled: from one of its callbacks). */
    public boolean inContext() {
        return controller == null ? Thread.currentThread() == thread : CONTROLLED_CURRENT.get() == this;
    }

    // ---------------------------------------------------------------- sources

    /**
     * Calls onReadable on the context thread whenever fd is readable (level-triggered: it must
     * read, or it is called again), including at end of stream or error. Callable from any thread.
     */
    public Registration addReadable(int fd, String what, Runnable onReadable) {
        Objects.requireNonNull(onReadable, "onReadable");
        return addFd(fd, EPOLLIN, what, events -> onReadable.run());
    }

    /**
     * Calls onSignal with the consumed count whenever the eventfd is signalled. The context
     * consumes the counter itself; the EventFd stays owned by the caller.
     */
    public Registration addEventFd(EventFd eventFd, String what, LongConsumer onSignal) {
        Objects.requireNonNull(onSignal, "onSignal");
        return addFd(eventFd.fd(), EPOLLIN, what, events -> {
            long n = eventFd.consume();
            if (n > 0) {
                onSignal.accept(n);
            }
        });
    }

    /**
     * Calls onHangup once when the peer of a socket hangs up or the fd errors (EPOLLRDHUP,
     * EPOLLHUP, EPOLLERR), without ever reading from it: the data stays for whoever reads the
     * socket. The watch cancels itself before calling onHangup.
     */
    public Registration addHangupWatch(int fd, String what, Runnable onHangup) {
        Objects.requireNonNull(onHangup, "onHangup");
        FdSource[] self = new FdSource[1];
        Registration r = addFd(fd, EPOLLRDHUP, what, events -> {
            self[0].cancel();
            onHangup.run();
        });
        self[0] = (FdSource) r;
        return r;
    }

    private Registration addFd(int fd, int events, String what, EventHandler handler) {
        Objects.requireNonNull(what, "what");
        FdSource s = new FdSource(nextKey.getAndIncrement(), fd, events, what, handler);
        synchronized (epollLock) {
            ensureOpen("register " + what);
            sources.put(s.key, s);
            try {
                Epoll.add(epfd, fd, events, s.key, what + " on context " + name);
            } catch (RuntimeException e) {
                sources.remove(s.key);
                throw e;
            }
        }
        log.debug("context '{}': registered fd {} for {}", name, fd, what);
        return s;
    }

    /**
     * Registers a poller: while the context polls (see {@link #setPollMaxNs}), {@code ready} is
     * called on the context thread, and when it returns true {@code onReady} runs there, as a
     * callback would. {@code ready} must be cheap, must not block and should say true only for
     * new work (a poller that stays ready makes the context spin for its whole window). A poller
     * whose check or handler throws is cancelled. Callable from any thread.
     */
    public Registration addPoller(String what, BooleanSupplier ready, Runnable onReady) {
        Objects.requireNonNull(ready, "ready");
        Objects.requireNonNull(onReady, "onReady");
        return addPoller(what, new PollSource() {
            @Override
            public boolean ready() {
                return ready.getAsBoolean();
            }

            @Override
            public void run() {
                onReady.run();
            }
        });
    }

    /** As {@link #addPoller(String, BooleanSupplier, Runnable)}, with the start and end of polling told. */
    public Registration addPoller(String what, PollSource source) {
        Objects.requireNonNull(what, "what");
        Poller p = new Poller(what, Objects.requireNonNull(source, "source"));
        synchronized (epollLock) {
            ensureOpen("register poller " + what);
            Poller[] old = pollers;
            Poller[] grown = java.util.Arrays.copyOf(old, old.length + 1);
            grown[old.length] = p;
            pollers = grown;
        }
        return p;
    }

    /**
     * The longest this context busy-polls its pollers before it sleeps, in nanoseconds (QEMU's
     * iothread {@code poll-max-ns}); 0 (the default) turns polling off. Any thread.
     */
    public void setPollMaxNs(long maxNs) {
        pollWindow.setMax(maxNs);
    }

    public long pollMaxNs() {
        return pollWindow.max();
    }

    /** How many times a poller's handler ran because polling found it ready (not an fd event). */
    public long polledDispatches() {
        return polledDispatches;
    }

    /** Runs task once on the context thread after delay. */
    public Registration schedule(Duration delay, String what, Runnable task) {
        Objects.requireNonNull(task, "task");
        Objects.requireNonNull(what, "what");
        Timer t = new Timer(System.nanoTime() + Math.max(0, delay.toNanos()), nextKey.getAndIncrement(), what, task);
        boolean earliest;
        synchronized (timers) {
            ensureOpen("schedule " + what);
            timers.add(t);
            earliest = timers.peek() == t;
        }
        if (earliest && controller == null && !inContext()) {
            wake();
        }
        return t;
    }

    /** Runs command on the context thread, after the tasks already queued. */
    @Override
    public void execute(Runnable command) {
        execute("task", command);
    }

    /** As {@link #execute(Runnable)}, naming the task for watchdog reports and logs. */
    public void execute(String what, Runnable command) {
        Objects.requireNonNull(command, "command");
        enqueue(new Task(what, command, null));
    }

    /** Runs callable on the context thread; the future completes with its result or exception. */
    public <T> CompletableFuture<T> submit(Callable<T> callable) {
        Objects.requireNonNull(callable, "callable");
        CompletableFuture<T> f = new CompletableFuture<>();
        enqueue(new Task("submitted task", () -> {
            try {
                f.complete(callable.call());
            } catch (Throwable t) {
                f.completeExceptionally(t);
            }
        }, f));
        return f;
    }

    private void enqueue(Task task) {
        if (stopping.get()) {
            throw new RejectedExecutionException("event context '" + name + "' is closed; cannot run " + task.what);
        }
        tasks.add(task);
        if (controller == null && !inContext()) {
            wake();
        }
    }

    private void wake() {
        if (wakePending.compareAndSet(false, true)) {
            // Under the lock so that a concurrent close cannot release the fd (and let the number
            // be reused by someone else) between the check and the write.
            synchronized (epollLock) {
                if (!resourcesClosed) {
                    wakeup.signal();
                }
            }
        }
    }

    // ---------------------------------------------------------------- synchronous waits

    /**
     * Waits until condition is true. On this context's thread it runs a nested loop over this
     * context's sources, timers and tasks only (so whatever makes the condition true must be on
     * this context); on another thread it blocks, re-evaluating the condition (on the waiting
     * thread: it must be thread-safe) whenever the context dispatches something and at least
     * every few ms.
     *
     * @throws SyncWaitTimeoutException naming this context, what and the elapsed time
     * @throws IllegalStateException if the context is closed while waiting
     */
    public void waitUntil(BooleanSupplier condition, Duration timeout, String what) {
        Objects.requireNonNull(condition, "condition");
        Objects.requireNonNull(what, "what");
        if (condition.getAsBoolean()) {
            return;
        }
        if (controller != null) {
            controller.runUntil(this, condition, timeout, what);
            return;
        }
        long start = System.nanoTime();
        long deadline = start + timeout.toNanos();
        try (Watchdog.Watch watch = Watchdog.instance().watch(this, what, Thread.currentThread())) {
            if (inContext()) {
                nestedWait(condition, start, deadline, what);
            } else {
                foreignWait(condition, start, deadline, what);
            }
        }
    }

    private void nestedWait(BooleanSupplier condition, long start, long deadline, String what) {
        depth++;
        String outer = running;
        try {
            while (!condition.getAsBoolean()) {
                checkWaitable(start, deadline, what);
                running = "a nested wait for " + what;
                runOnce(Math.min(RECHECK_MS, remainingMs(deadline)));
            }
        } finally {
            depth--;
            running = outer;
        }
    }

    private void foreignWait(BooleanSupplier condition, long start, long deadline, String what) {
        foreignWaiters.incrementAndGet();
        try {
            while (!condition.getAsBoolean()) {
                checkWaitable(start, deadline, what);
                synchronized (progressMonitor) {
                    progressMonitor.wait(Math.min(RECHECK_MS, remainingMs(deadline)));
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting on event context '" + name + "' for " + what, e);
        } finally {
            foreignWaiters.decrementAndGet();
        }
    }

    private void checkWaitable(long start, long deadline, String what) {
        long now = System.nanoTime();
        if (stopping.get()) {
            throw new IllegalStateException("event context '" + name + "' closed while waiting for " + what);
        }
        if (now - deadline >= 0) {
            String busy = running;
            throw new SyncWaitTimeoutException(name, what, Duration.ofNanos(now - start),
                    "nothing".equals(busy) ? "" : "context thread running " + busy);
        }
    }

    private static long remainingMs(long deadline) {
        long ns = deadline - System.nanoTime();
        return Math.max(1, (ns + 999_999) / 1_000_000);
    }

    // ---------------------------------------------------------------- the loop

    private void loop() {
        try {
            while (!stopping.get()) {
                runOnce(-1);
            }
        } catch (Throwable t) {
            log.error("event context '{}' loop died", name, t);
        } finally {
            stopping.set(true);
            releaseResources();
        }
    }

    /**
     * One iteration: due timers, queued tasks, then epoll_wait (up to maxWaitMs, -1 = until the
     * next timer or event) and dispatch of what is ready.
     */
    private void runOnce(long maxWaitMs) {
        runDueTimers();
        runTasks();
        if (stopping.get()) {
            return;
        }
        long timeout = tasks.isEmpty() ? waitBudget(maxWaitMs) : 0;
        long pollStart = 0;
        if (timeout != 0 && depth == 0 && pollers.length > 0 && pollWindow.max() > 0) {
            pollStart = System.nanoTime();
            long found = poll(pollStart, pollWindow.window());
            if (found != 0) {
                pollWindow.waited(found - pollStart);
                pollStart = 0;
                timeout = 0;   // work was done: look at the fds, but do not sleep
            } else if (!tasks.isEmpty()) {
                timeout = 0;   // a task came: run it without sleeping, and without ending the polling
            }
        }
        if (timeout != 0 && pollingStarted && endPolling()) {
            timeout = 0;   // work arrived as the producers were asked to signal again
        }
        while (eventBuffers.size() <= depth) {
            eventBuffers.add(new Epoll.Events(MAX_EVENTS));
        }
        Epoll.Events events = eventBuffers.get(depth);
        int n = Epoll.await(epfd, events, (int) Math.min(Integer.MAX_VALUE, timeout));
        if (pollStart != 0) {
            pollWindow.waited(System.nanoTime() - pollStart);
        }
        for (int i = 0; i < n && !stopping.get(); i++) {
            long key = events.key(i);
            if (key == WAKEUP_KEY) {
                // Consume first, then allow new signals: the other order can swallow a signal
                // while the flag still says one is pending, and later wake() calls would skip it.
                // A task queued between the two is picked up by the next runTasks().
                wakeup.consume();
                wakePending.set(false);
                continue;
            }
            FdSource s = sources.get(key);
            if (s != null) {
                dispatch(s, events.events(i));
            }
        }
    }

    /**
     * Spins over the pollers for up to {@code windowNs}, running the handlers of those ready.
     * Returns when the first was found (0 if none was), and stops early when a task is queued.
     */
    private long poll(long start, long windowNs) {
        if (windowNs <= 0) {
            return 0;
        }
        long deadline = start + windowNs;
        pollingStarted = true;
        for (Poller p : pollers) {   // also a poller added since polling started
            if (!p.started && !p.cancelled) {
                p.started = true;
                try {
                    p.source.pollStarted();
                } catch (RuntimeException | Error e) {
                    failed(p, e);
                }
            }
        }
        while (true) {
            long found = 0;
            for (Poller p : pollers) {
                if (p.cancelled || stopping.get()) {
                    continue;
                }
                boolean ready;
                try {
                    ready = p.source.ready();
                } catch (RuntimeException | Error e) {
                    failed(p, e);
                    continue;
                }
                if (ready) {
                    if (found == 0) {
                        found = System.nanoTime();
                    }
                    polledDispatches++;
                    runPoller(p);
                }
            }
            if (found != 0) {
                return found;
            }
            if (!tasks.isEmpty() || stopping.get() || System.nanoTime() - deadline >= 0) {
                return 0;
            }
            Thread.onSpinWait();
        }
    }

    /**
     * Tells every poller that polling ended (they ask their producers to signal again) and runs
     * those that found work meanwhile. Returns whether any did: then the context must not sleep.
     */
    private boolean endPolling() {
        pollingStarted = false;
        boolean work = false;
        for (Poller p : pollers) {
            if (!p.started || p.cancelled) {
                continue;
            }
            p.started = false;
            boolean arrived;
            try {
                arrived = p.source.pollEnded();
            } catch (RuntimeException | Error e) {
                failed(p, e);
                continue;
            }
            if (arrived) {
                work = true;
                runPoller(p);
            }
        }
        return work;
    }

    private void runPoller(Poller p) {
        if (!runGuarded(p.what, p.run)) {
            log.error("event context '{}': cancelling poller {}", name, p.what);
            p.cancel();
        }
    }

    private void failed(Poller p, Throwable e) {
        log.error("event context '{}': poller {} failed; cancelling it", name, p.what, e);
        p.cancel();
    }

    private long waitBudget(long maxWaitMs) {
        long untilTimer = -1;
        synchronized (timers) {
            Timer next = timers.peek();
            if (next != null) {
                untilTimer = Math.max(0, (next.deadline - System.nanoTime() + 999_999) / 1_000_000);
            }
        }
        if (maxWaitMs < 0) {
            return untilTimer;
        }
        return untilTimer < 0 ? maxWaitMs : Math.min(maxWaitMs, untilTimer);
    }

    private void runDueTimers() {
        while (true) {
            Timer t;
            synchronized (timers) {
                t = timers.peek();
                if (t == null || t.deadline - System.nanoTime() > 0) {
                    return;
                }
                timers.poll();
            }
            if (!t.cancelled) {
                t.cancelled = true; // fired: a later cancel() is a no-op
                runGuarded(t.what, t.task);
            }
        }
    }

    private void runTasks() {
        // Only the tasks queued now: tasks that queue more tasks must not starve I/O.
        for (int n = tasks.size(); n > 0 && !stopping.get(); n--) {
            Task t = tasks.poll();
            if (t == null) {
                return;
            }
            runGuarded(t.what, t.command);
        }
    }

    private void dispatch(FdSource s, int events) {
        if (s.cancelled) {
            return;
        }
        if (s.busy) {
            // Its callback is running in an outer frame (which is now in a nested wait). Park the
            // fd so the nested loop does not spin on it; the outer frame re-arms it.
            if (!s.parked) {
                s.parked = true;
                synchronized (epollLock) {
                    if (!s.cancelled && !resourcesClosed) {
                        Epoll.modify(epfd, s.fd, 0, s.key, s.what);
                    }
                }
            }
            return;
        }
        s.busy = true;
        String outer = running;
        running = s.what;
        try {
            s.handler.handle(events);
        } catch (RuntimeException | Error e) {
            log.error("event context '{}': callback for {} (fd {}) failed; cancelling it", name, s.what, s.fd, e);
            s.cancel();
        } finally {
            running = outer;
            s.busy = false;
            if (s.parked) {
                s.parked = false;
                synchronized (epollLock) {
                    if (!s.cancelled && !resourcesClosed) {
                        Epoll.modify(epfd, s.fd, s.events, s.key, s.what);
                    }
                }
            }
            madeProgress();
        }
    }

    /** Runs a callback, task or timer as the one running; false if it threw (logged). */
    private boolean runGuarded(String what, Runnable r) {
        String outer = running;
        running = what;
        try {
            r.run();
            return true;
        } catch (RuntimeException | Error e) {
            log.error("event context '{}': {} failed", name, what, e);
            return false;
        } finally {
            running = outer;
            madeProgress();
        }
    }

    private void madeProgress() {
        progress.incrementAndGet();
        if (foreignWaiters.get() > 0) {
            synchronized (progressMonitor) {
                progressMonitor.notifyAll();
            }
        }
    }

    // ---------------------------------------------------------------- watchdog view

    /** Number of callbacks, tasks and timers dispatched so far ("progress" for the watchdog). */
    @Override
    public long progress() {
        return progress.get();
    }

    @Override
    public Thread thread() {
        return thread;
    }

    /** What the context thread is dispatching now, for reports. */
    @Override
    public String running() {
        return running;
    }

    // ---------------------------------------------------------------- controlled mode

    /**
     * The seam for a deterministic scheduler (the control-plane interleaving explorer): contexts
     * started while a controller is installed have no thread; the controller runs their work, one
     * callback at a time, on its own thread, and decides what runs next. Nothing in production
     * installs one.
     */
    public interface Controller {
        /** A context was started under this controller: from now on only the controller runs its work. */
        void adopted(EventContext context);

        /**
         * A synchronous wait ({@link #waitUntil} on {@code context}, or a blocking wait for work of
         * {@code context}) by the work running now: run other work until {@code condition} holds.
         *
         * @throws SyncWaitTimeoutException if it cannot come to hold
         */
        void runUntil(EventContext context, BooleanSupplier condition, Duration timeout, String what);

        /** A deliberate delay of the work running now (fault injection): other work may run meanwhile. */
        void pause(Duration delay, String what);

        /** The context was closed. */
        void closed(EventContext context);
    }

    /** Undoes {@link #controlledBy}. */
    public interface ControlScope extends AutoCloseable {
        @Override
        void close();
    }

    /**
     * Until the returned scope is closed, every context this thread starts is controlled by
     * {@code controller} (contexts started elsewhere are not). For tests only.
     */
    public static ControlScope controlledBy(Controller controller) {
        Objects.requireNonNull(controller, "controller");
        Controller previous = CONTROLLER.get();
        CONTROLLER.set(controller);
        return () -> {
            if (previous == null) {
                CONTROLLER.remove();
            } else {
                CONTROLLER.set(previous);
            }
        };
    }

    /** This context's controller, or null for a context with its own thread. */
    public Controller controller() {
        return controller;
    }

    /** Controlled mode: whether a queued task waits. */
    public boolean hasTask() {
        requireControlled();
        return !stopping.get() && !tasks.isEmpty();
    }

    /** Controlled mode: what the next task is, or null. */
    public String nextTask() {
        requireControlled();
        Task t = tasks.peek();
        return t == null ? null : t.what;
    }

    /** Controlled mode: runs the oldest queued task on the calling thread; false if there was none. */
    public boolean runTask() {
        requireControlled();
        if (stopping.get()) {
            return false;
        }
        Task t = tasks.poll();
        if (t == null) {
            return false;
        }
        controlledDispatch(() -> runGuarded(t.what, t.command));
        return true;
    }

    /**
     * Controlled mode: the keys of the fd sources that are ready now and not running, in
     * registration order (an epoll_wait with no timeout; the order is fixed so a seed replays).
     */
    public long[] readySources() {
        requireControlled();
        readyEvents.clear();
        if (stopping.get()) {
            return new long[0];
        }
        if (controlledEvents == null) {
            controlledEvents = new Epoll.Events(MAX_EVENTS);
        }
        int n = Epoll.await(epfd, controlledEvents, 0);
        long[] keys = new long[n];
        int k = 0;
        for (int i = 0; i < n; i++) {
            long key = controlledEvents.key(i);
            if (key == WAKEUP_KEY) {
                wakeup.consume();
                wakePending.set(false);
                continue;
            }
            FdSource s = sources.get(key);
            if (s != null && !s.cancelled && !s.busy) {
                keys[k++] = key;
                readyEvents.put(key, controlledEvents.events(i));
            }
        }
        keys = java.util.Arrays.copyOf(keys, k);
        java.util.Arrays.sort(keys);
        return keys;
    }

    /** Controlled mode: what the source with {@code key} is for, or null if it is gone. */
    public String describeSource(long key) {
        FdSource s = sources.get(key);
        return s == null ? null : s.what;
    }

    /** Controlled mode: runs the callback of a source {@link #readySources} returned, on the calling thread. */
    public void dispatchSource(long key) {
        requireControlled();
        FdSource s = sources.get(key);
        if (s == null || s.cancelled || s.busy || stopping.get()) {
            return;
        }
        int events = readyEvents.getOrDefault(key, EPOLLIN);
        controlledDispatch(() -> dispatch(s, events));
    }

    private void controlledDispatch(Runnable work) {
        EventContext outer = CONTROLLED_CURRENT.get();
        CONTROLLED_CURRENT.set(this);
        controlledDepth++;
        try {
            work.run();
        } finally {
            controlledDepth--;
            CONTROLLED_CURRENT.set(outer);
            if (controlledDepth == 0 && stopping.get() && !resourcesClosed) {
                releaseResources();
            }
        }
    }

    private void requireControlled() {
        if (controller == null) {
            throw new IllegalStateException("event context '" + name + "' has its own thread; only a controlled context is stepped");
        }
    }

    // ---------------------------------------------------------------- closing

    public boolean isClosed() {
        return stopping.get();
    }

    /**
     * Stops the loop: queued tasks are dropped (submitted futures fail with
     * RejectedExecutionException), then the thread ends and the context's own epoll fd and
     * wakeup eventfd are closed. From another thread this waits for the loop thread to finish
     * its current callback (up to 5 s, then warns); from the context thread it returns at once and
     * the loop ends when the current callback returns. Idempotent.
     */
    @Override
    public void close() {
        if (controller != null) {
            if (stopping.compareAndSet(false, true)) {
                log.debug("closing controlled event context '{}'", name);
                if (controlledDepth == 0) {
                    releaseResources();
                }   // else when the callback that closed it returns
                controller.closed(this);
            }
            return;
        }
        if (stopping.compareAndSet(false, true)) {
            log.debug("closing event context '{}'", name);
            wake();
        }
        if (!inContext()) {
            try {
                thread.join(CLOSE_JOIN.toMillis());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            if (thread.isAlive()) {
                log.warn("event context '{}' did not stop within {} ms; its thread is {} running {}",
                        name, CLOSE_JOIN.toMillis(), thread.getState(), running);
            }
        }
    }

    private void releaseResources() {
        for (Task t; (t = tasks.poll()) != null; ) {
            if (t.future != null) {
                t.future.completeExceptionally(new RejectedExecutionException("event context '" + name + "' closed"));
            } else {
                log.debug("context '{}' closed before running {}", name, t.what);
            }
        }
        synchronized (timers) {
            timers.clear();
        }
        synchronized (epollLock) {
            resourcesClosed = true;
            sources.clear();
            Fds.closeQuietly(epfd);
            wakeup.close();
        }
        synchronized (progressMonitor) {
            progressMonitor.notifyAll();
        }
        log.debug("event context '{}' stopped", name);
    }

    private void ensureOpen(String action) {
        if (stopping.get()) {
            throw new IllegalStateException("event context '" + name + "' is closed; cannot " + action);
        }
    }

    @Override
    public String toString() {
        return "EventContext[" + name + (stopping.get() ? ", closed]" : "]");
    }

    // ---------------------------------------------------------------- registrations

    @FunctionalInterface
    private interface EventHandler {
        void handle(int events);
    }

    private record Task(String what, Runnable command, CompletableFuture<?> future) {
    }

    /** An fd in this context's epoll set. busy/parked are touched on the context thread only. */
    private final class FdSource implements Registration {
        final long key;
        final int fd;
        final int events;
        final String what;
        final EventHandler handler;
        volatile boolean cancelled;
        boolean busy;
        boolean parked;

        FdSource(long key, int fd, int events, String what, EventHandler handler) {
            this.key = key;
            this.fd = fd;
            this.events = events;
            this.what = what;
            this.handler = handler;
        }

        @Override
        public String what() {
            return what;
        }

        @Override
        public void cancel() {
            synchronized (epollLock) {
                if (cancelled) {
                    return;
                }
                cancelled = true;
                sources.remove(key);
                if (!resourcesClosed) {
                    Epoll.delete(epfd, fd, what);
                }
            }
            log.debug("context '{}': cancelled {} (fd {})", name, what, fd);
        }

        @Override
        public boolean isCancelled() {
            return cancelled;
        }
    }

    /** A busy-polled source (see {@link #addPoller}). */
    private final class Poller implements Registration {
        final String what;
        final PollSource source;
        final Runnable run;   // source::run made once: dispatches allocate nothing
        volatile boolean cancelled;
        /** Context thread only: told pollStarted, not yet pollEnded. */
        boolean started;

        Poller(String what, PollSource source) {
            this.what = what;
            this.source = source;
            this.run = source::run;
        }

        @Override
        public String what() {
            return what;
        }

        @Override
        public void cancel() {
            synchronized (epollLock) {
                if (cancelled) {
                    return;
                }
                cancelled = true;
                Poller[] old = pollers;
                Poller[] kept = new Poller[old.length];
                int k = 0;
                for (Poller q : old) {
                    if (q != this) {
                        kept[k++] = q;
                    }
                }
                pollers = java.util.Arrays.copyOf(kept, k);
            }
        }

        @Override
        public boolean isCancelled() {
            return cancelled;
        }
    }

    /** A one-shot timer; ordered by deadline, then creation order. */
    private final class Timer implements Registration, Comparable<Timer> {
        final long deadline;
        final long seq;
        final String what;
        final Runnable task;
        volatile boolean cancelled;

        Timer(long deadline, long seq, String what, Runnable task) {
            this.deadline = deadline;
            this.seq = seq;
            this.what = what;
            this.task = task;
        }

        @Override
        public int compareTo(Timer o) {
            int c = Long.compare(deadline - o.deadline, 0);
            return c != 0 ? c : Long.compare(seq, o.seq);
        }

        @Override
        public String what() {
            return what;
        }

        @Override
        public void cancel() {
            cancelled = true;
            synchronized (timers) {
                timers.remove(this);
            }
        }

        @Override
        public boolean isCancelled() {
            return cancelled;
        }
    }
}
