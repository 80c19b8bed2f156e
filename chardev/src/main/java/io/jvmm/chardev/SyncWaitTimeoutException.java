package io.jvmm.chardev;

import java.time.Duration;

/** A synchronous wait ({@link EventContext#waitUntil}) whose condition did not become true in time. */
public final class SyncWaitTimeoutException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final String context;
    private final String what;
    private final Duration elapsed;

    public SyncWaitTimeoutException(String context, String what, Duration elapsed, String detail) {
        super("synchronous wait on event context '" + context + "' for " + what + " timed out after "
                + elapsed.toMillis() + " ms" + (detail == null || detail.isEmpty() ? "" : " (" + detail + ")"));
        this.context = context;
        this.what = what;
        this.elapsed = elapsed;
    }

    public String context() {
        return context;
    }

    public String what() {
        return what;
    }

    public Duration elapsed() {
        return elapsed;
    }
}
