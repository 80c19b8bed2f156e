package io.jvmm.chardev;

/**
 * What the {@link Watchdog} needs to know about a context a synchronous wait depends on: our own
 * {@link EventContext}, or any other single-threaded loop (a Netty event loop, which cannot run
 * nested and so is watched while its thread blocks). Rule 5: a wait that makes no progress is
 * reported naming this context and what its thread is doing.
 */
public interface WatchedContext {
    /** The context's name, as reports give it. */
    String name();

    /** A count that grows whenever the context dispatches something (callbacks, tasks, timers). */
    long progress();

    /** The context's thread (its state and stack go into reports). */
    Thread thread();

    /** What the context's thread is dispatching now ({@code "nothing"} when idle). */
    String running();
}
