package io.jvmm.chardev;

import java.time.Duration;
import java.util.List;
import java.util.stream.Collectors;

/**
 * The watchdog's report of a synchronous wait that makes no progress: which context, what the
 * wait is for, how long, and what the context's thread is doing (state, what it is dispatching,
 * top stack frames).
 *
 * @param context        name of the event context the wait runs on
 * @param what           what the wait is for, as given to waitUntil
 * @param waitingThread  name of the thread that waits
 * @param waiting        time since the wait started
 * @param stalled        time since the context last dispatched anything
 * @param contextThread  name and state of the context's thread
 * @param running        what the context's thread is dispatching now ({@code "nothing"} when idle)
 * @param contextStack   top frames of the context's thread
 */
public record StalledWaitReport(String context, String what, String waitingThread, Duration waiting,
        Duration stalled, String contextThread, String running, List<StackTraceElement> contextStack) {

    public StalledWaitReport {
        contextStack = List.copyOf(contextStack);
    }

    /** The one-line (plus frames) text the watchdog logs. */
    public String message() {
        String frames = contextStack.stream().map(f -> "\n\tat " + f).collect(Collectors.joining());
        return "synchronous wait on event context '" + context + "' for " + what + " has made no progress for "
                + stalled.toMillis() + " ms (waiting " + waiting.toMillis() + " ms in thread " + waitingThread
                + "); context thread " + contextThread + " is running " + running + frames;
    }
}
