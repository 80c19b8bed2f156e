package io.jvmm.virtio.vhost.frontend;

import io.jvmm.chardev.EventFd;
import io.jvmm.chardev.Registration;

/**
 * One queue of a vhost-user device on the front-end side: what the driver programmed, the
 * eventfds handed to the back-end, and which call fd the back-end has now.
 *
 * <p>Fields other than the finals are guarded by the device's lock; {@code vector} and
 * {@code started} are also read without it (kicks, masked-notifier callbacks).
 */
final class VhostQueue {
    static final int NO_VECTOR = 0xffff;

    final int index;
    /** Signalled for each guest notification (or, under KVM, bound as the ioeventfd). */
    final EventFd kick = EventFd.create();
    /** Where completions go while the queue's vector is masked (rule 2). */
    final EventFd masked = EventFd.create();
    /** The back-end's error notifier. */
    final EventFd err = EventFd.create();

    boolean enabled;
    int size;
    long desc;
    long avail;
    long used;
    volatile int vector = NO_VECTOR;
    /** SET_VRING_KICK sent: the back-end runs the ring until GET_VRING_BASE stops it. */
    volatile boolean started;
    /** The call fd last sent (null: none, or the no-fd flag). */
    EventFd callFd;
    /** Watch turning masked-notifier signals into pending bits, while the call fd is {@link #masked}. */
    Registration maskedWatch;
    /** Watch on {@link #err}. */
    Registration errWatch;

    VhostQueue(int index) {
        this.index = index;
    }

    void forgetRing() {
        enabled = false;
        size = 0;
        desc = 0;
        avail = 0;
        used = 0;
        vector = NO_VECTOR;
    }

    void close() {
        kick.close();
        masked.close();
        err.close();
    }

    @Override
    public String toString() {
        return "queue " + index;
    }
}
