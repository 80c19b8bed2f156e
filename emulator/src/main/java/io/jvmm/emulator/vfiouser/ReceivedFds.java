package io.jvmm.emulator.vfiouser;

import io.jvmm.chardev.Fds;
import java.util.Arrays;

/**
 * The fds that arrived with one request. A handler {@link #take takes} those it keeps; whatever
 * is left is closed once the request is answered, so an fd sent where none belongs never leaks.
 */
final class ReceivedFds implements AutoCloseable {
    static final ReceivedFds NONE = new ReceivedFds(new int[0]);

    private final int[] fds;
    private final boolean[] taken;

    ReceivedFds(int[] fds) {
        this.fds = fds.clone();
        this.taken = new boolean[fds.length];
    }

    int count() {
        return fds.length;
    }

    /** Takes ownership of fd number {@code index}: it will not be closed by {@link #close}. */
    int take(int index) {
        if (taken[index]) {
            throw new IllegalStateException("fd #" + index + " (" + fds[index] + ") was already taken");
        }
        taken[index] = true;
        return fds[index];
    }

    /** Closes every fd nobody took; idempotent. */
    @Override
    public void close() {
        for (int i = 0; i < fds.length; i++) {
            if (!taken[i]) {
                taken[i] = true;
                Fds.closeQuietly(fds[i]);
            }
        }
    }

    @Override
    public String toString() {
        return Arrays.toString(fds);
    }
}
