package io.jvmm.chardev;

/**
 * Something an {@link EventContext} busy-polls before it sleeps (QEMU's io_poll handlers). All
 * methods run on the context's thread.
 *
 * <p>While the context polls, the producer need not signal the source's fd: {@link #pollStarted}
 * may ask it not to (a virtqueue suppresses the driver's notifications, as QEMU's virtqueues do
 * while their iothread polls), which saves a system call on both sides per request.
 * {@link #pollEnded} must then ask for signals again before the context sleeps, and report work
 * that arrived in between, or it would never be seen.
 */
public interface PollSource {
    /** Whether new work is there: cheap, no blocking, no system call; true only for new work. */
    boolean ready();

    /** Serves what {@link #ready} or {@link #pollEnded} found. */
    void run();

    /** The context starts polling: the producer may stop signalling the fd. */
    default void pollStarted() {
    }

    /**
     * The context stops polling and will sleep: the producer must signal again. Returns true if
     * work arrived meanwhile ({@link #run} is then called and the context does not sleep). Called
     * once after each {@link #pollStarted}; a source added while the context polls is told
     * {@link #pollStarted} at the context's next pass over its pollers.
     */
    default boolean pollEnded() {
        return false;
    }
}
