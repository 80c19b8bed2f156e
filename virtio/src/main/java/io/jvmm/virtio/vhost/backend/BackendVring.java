package io.jvmm.virtio.vhost.backend;

import io.jvmm.chardev.EventFd;
import io.jvmm.chardev.Registration;
import io.jvmm.virtio.queue.SplitVirtqueue;
import io.jvmm.virtio.vhost.VringAddress;

/**
 * One ring as the back-end tracks it. Touched only on the back-end's data-plane context, so the
 * call fd a completion signals and the one SET_VRING_CALL installs are never used at the same
 * time (after the switch is acknowledged, nothing signals the old fd).
 */
final class BackendVring {
    final int index;
    int num;
    int base;
    VringAddress address;
    EventFd kick;
    Registration kickWatch;
    EventFd call;
    EventFd err;
    /** Between SET_VRING_KICK and GET_VRING_BASE (or a reset). */
    boolean started;
    boolean enabled;
    /** Rule 3: a kick arrived while started but disabled; served when enabled. */
    boolean kickPending;
    /** A guest mistake stopped the ring until it is restarted. */
    boolean faulted;
    SplitVirtqueue queue;

    BackendVring(int index) {
        this.index = index;
    }

    void signalCall() {
        EventFd c = call;
        if (c != null) {
            c.signal();
        }
    }

    /** Stops the ring (GET_VRING_BASE or reset): no more kicks are watched; returns where it stopped. */
    int stop() {
        int next = queue != null ? queue.lastAvailIndex() : base;
        if (kickWatch != null) {
            kickWatch.cancel();
            kickWatch = null;
        }
        if (kick != null) {
            kick.close();
            kick = null;
        }
        started = false;
        kickPending = false;
        faulted = false;
        queue = null;
        base = next;
        return next;
    }

    /** Forgets everything (reset or end of the connection), closing the fds. */
    void clear() {
        stop();
        if (call != null) {
            call.close();
            call = null;
        }
        if (err != null) {
            err.close();
            err = null;
        }
        enabled = false;
        num = 0;
        base = 0;
        address = null;
    }
}
