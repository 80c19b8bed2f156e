package io.jvmm.virtio.vhost.backend;

import io.jvmm.chardev.EventFd;
import io.jvmm.chardev.Registration;
import io.jvmm.virtio.queue.SplitVirtqueue;
import io.jvmm.virtio.vhost.VringAddress;

/**
 * One ring as the back-end tracks it. Touched only on the back-end's data-plane context, except
 * the call fd: signals and SET_VRING_CALL's switch serialise on {@link #callLock} instead, so a
 * switch needs no hop to the data plane, and once it returns (and is acknowledged) nothing
 * signals the old fd any more.
 */
final class BackendVring {
    final int index;
    private final BackendStats stats;
    private final Object callLock = new Object();
    int num;
    int base;
    VringAddress address;
    EventFd kick;
    Registration kickWatch;
    private EventFd call;   // guarded by callLock
    /** A SET_VRING_CALL arrived and is not applied yet (the switch window); guarded by callLock. */
    private boolean switching;
    EventFd err;
    /** Between SET_VRING_KICK and GET_VRING_BASE (or a reset). */
    boolean started;
    boolean enabled;
    /** Rule 3: a kick arrived while started but disabled; served when enabled. */
    boolean kickPending;
    /** A guest mistake stopped the ring until it is restarted. */
    boolean faulted;
    SplitVirtqueue queue;

    BackendVring(int index, BackendStats stats) {
        this.index = index;
        this.stats = stats;
    }

    void signalCall() {
        synchronized (callLock) {
            if (call != null) {
                call.signal();
                stats.signals.incrementAndGet();
                if (switching) {
                    stats.signalsDuringSwitch.incrementAndGet();
                }
            }
        }
    }

    /** A SET_VRING_CALL for this ring arrived: signals until {@link #switchCall} still go to the old fd. */
    void callSwitchStarting() {
        synchronized (callLock) {
            switching = true;
        }
    }

    /** Installs a new call fd (null: none) and closes the old one, which no signal uses after this returns. */
    void switchCall(EventFd next) {
        EventFd old;
        synchronized (callLock) {
            old = call;
            call = next;
            switching = false;
        }
        if (old != null) {
            old.close();
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
        switchCall(null);
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
