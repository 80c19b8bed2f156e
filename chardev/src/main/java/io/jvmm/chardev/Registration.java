package io.jvmm.chardev;

/** An I/O source or timer registered on an {@link EventContext}. */
public interface Registration {
    /** What the registration is for, as given when it was made (used in logs and reports). */
    String what();

    /**
     * Stops further callbacks; idempotent, callable from any thread. A callback already running
     * on the context thread finishes; none starts after this returns. The fd itself is not
     * closed: it belongs to whoever registered it.
     */
    void cancel();

    boolean isCancelled();
}
