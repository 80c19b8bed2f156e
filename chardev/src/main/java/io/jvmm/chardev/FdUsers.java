package io.jvmm.chardev;

import java.util.concurrent.atomic.AtomicInteger;

/**
 * Keeps an owned fd open while a system call on it may still be under way on another thread.
 * Without this, close() on one thread can release the fd between another thread's "is it open?"
 * check and its system call, which then fails with EBADF, or, if anything opened a file in
 * between and got the same number, reads, writes or accepts on somebody else's file.
 *
 * <p>Each call that uses the fd is bracketed by {@link #enter()} and {@link #exit()}; the owner's
 * close is {@link #close()}, then whatever wakes the users (shutdown), then {@link #exit()}. The
 * fd is released by whichever exit() comes last, so never while a call may still use it.
 */
public final class FdUsers {
    private static final int CLOSED = 1 << 30;

    /** CLOSED flag plus the number of calls in progress (and the closer's own hold). */
    private final AtomicInteger state = new AtomicInteger();

    /** Starts a use; false (and nothing to undo) if the owner is closed. */
    public boolean enter() {
        while (true) {
            int s = state.get();
            if ((s & CLOSED) != 0) {
                return false;
            }
            if (state.compareAndSet(s, s + 1)) {
                return true;
            }
        }
    }

    /** Ends a use (or the closer's hold); true if the caller must now release the fd: closed, and the last one out. */
    public boolean exit() {
        return state.decrementAndGet() == CLOSED;
    }

    /** Marks the owner closed and holds it for the closer until its exit(); false if it was closed already. */
    public boolean close() {
        while (true) {
            int s = state.get();
            if ((s & CLOSED) != 0) {
                return false;
            }
            if (state.compareAndSet(s, (s | CLOSED) + 1)) {
                return true;
            }
        }
    }

    public boolean isClosed() {
        return (state.get() & CLOSED) != 0;
    }
}
