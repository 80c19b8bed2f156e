package io.jvmm.chardev;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;
import java.util.function.Supplier;
import java.util.stream.Collectors;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Every test class stops what it started: after the class, no thread it started is still alive,
 * no process it started is still running, and the watchdog threshold (a process-wide setting) is
 * back where it was. Otherwise a later class would run beside them, and its verdict would depend
 * on what ran before it. Leftovers get a bound that only guards against a hang to end by
 * themselves; then the class fails, naming them (with the stack of each thread), and the
 * processes are killed so that the next class starts clean.
 *
 * <p>Registered for every test class of every module through the ServiceLoader file in this
 * test-jar and {@code junit.jupiter.extensions.autodetection.enabled} (root pom). Threads that the
 * JDK, JUnit or the test runner keep for the life of the JVM, and jvmm's one watchdog thread and
 * shared-memory guard cleaner, are not counted.
 */
public final class NothingLeftRunning implements BeforeAllCallback, AfterAllCallback {
    /** Thread-name prefixes of threads that live as long as the JVM by design (pools, the runner, the watchdog). */
    private static final List<String> PROCESS_WIDE = List.of("ForkJoinPool.commonPool-worker-", "process reaper", "junit-",
            "surefire-", "Common-Cleaner", "Cleaner-", "jnr.ffi.", "Attach Listener", "Signal Dispatcher", "Reference Handler", "Finalizer",
            "Notification Thread", "jvmm-watchdog", "jvmm-shared-memory-guards");
    private static final ExtensionContext.Namespace NS = ExtensionContext.Namespace.create(NothingLeftRunning.class);
    private static final int STACK_FRAMES = 8;

    private record Before(Set<Thread> threads, Set<Long> processes, Duration watchdogThreshold) {
    }

    @Override
    public void beforeAll(ExtensionContext context) {
        Set<Thread> threads = Collections.newSetFromMap(new IdentityHashMap<>());
        threads.addAll(Thread.getAllStackTraces().keySet());
        Set<Long> processes = ProcessHandle.current().descendants().map(ProcessHandle::pid).collect(Collectors.toSet());
        context.getStore(NS).put(context.getUniqueId(), new Before(threads, processes, Watchdog.instance().threshold()));
    }

    @Override
    public void afterAll(ExtensionContext context) {
        Before before = context.getStore(NS).remove(context.getUniqueId(), Before.class);
        if (before == null) {
            return;
        }
        List<String> problems = new ArrayList<>();
        Supplier<List<Thread>> threads = () -> Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.isAlive() && !before.threads().contains(t) && !processWide(t.getName()))
                .toList();
        Supplier<List<ProcessHandle>> processes = () -> ProcessHandle.current().descendants()
                .filter(p -> p.isAlive() && !before.processes().contains(p.pid()))
                .toList();
        if (!settled(() -> threads.get().isEmpty() && processes.get().isEmpty())) {
            for (Thread t : threads.get()) {
                problems.add("thread '" + t.getName() + "' (" + t.getState() + ") is still running:" + stack(t));
            }
            for (ProcessHandle p : processes.get()) {
                problems.add("process " + p.pid() + " (" + p.info().commandLine().orElse("?") + ") is still running; killed");
                p.destroyForcibly();
            }
        }
        Duration threshold = Watchdog.instance().threshold();
        if (!threshold.equals(before.watchdogThreshold())) {
            problems.add("the watchdog threshold is " + threshold.toMillis() + " ms, it was " + before.watchdogThreshold().toMillis()
                    + " ms before the class; restored");
            Watchdog.instance().setThreshold(before.watchdogThreshold());
        }
        if (!problems.isEmpty()) {
            throw new AssertionError(context.getDisplayName() + " left things running after its tests:\n  "
                    + String.join("\n  ", problems));
        }
    }

    private static boolean settled(java.util.function.BooleanSupplier done) {
        try {
            Await.until(done, Await.HANG_GUARD, () -> "");
            return true;
        } catch (AssertionError e) {
            return false;
        }
    }

    private static boolean processWide(String name) {
        return PROCESS_WIDE.stream().anyMatch(name::startsWith);
    }

    private static String stack(Thread t) {
        return Arrays.stream(t.getStackTrace()).limit(STACK_FRAMES).map(f -> "\n      at " + f).collect(Collectors.joining());
    }
}
