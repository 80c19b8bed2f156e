package io.jvmm.virtio.pci;

import io.jvmm.chardev.EventContext;
import io.jvmm.chardev.Registration;
import io.jvmm.virtio.queue.SplitVirtqueue;
import java.util.ArrayList;
import java.util.List;
import java.util.function.IntConsumer;

/**
 * The pollers of one activation (QEMU's virtqueue host-notifier polling): for each ring whose
 * notifications the device's own context serves, a check of the avail index the driver
 * published, so that a context that polls (its {@code poll-max-ns}) serves a request as soon as it
 * is published instead of after the kick's eventfd wakes it. A poller says ready only for an index
 * it has not reported before, so a device that leaves buffers in the ring (back-pressure) is not
 * re-served in a spin. Made and cancelled under the lifecycle's lock.
 */
final class QueuePollers {
    private final List<Registration> registrations = new ArrayList<>();

    /** Pollers for {@code rings[i]} where {@code polled[i]}; each ready one calls {@code serve}. */
    QueuePollers(EventContext context, String deviceName, SplitVirtqueue[] rings, boolean[] polled, IntConsumer serve) {
        for (int i = 0; i < rings.length; i++) {
            if (rings[i] != null && polled[i]) {
                RingPoll poll = new RingPoll(rings[i]);
                int queue = i;
                registrations.add(context.addPoller(deviceName + " queue " + i + " avail index", poll::published,
                        () -> serve.accept(queue)));
            }
        }
    }

    void cancel() {
        registrations.forEach(Registration::cancel);
        registrations.clear();
    }

    /** On the context thread only. */
    private static final class RingPoll {
        private final SplitVirtqueue ring;
        private int reported;

        RingPoll(SplitVirtqueue ring) {
            this.ring = ring;
            this.reported = ring.lastAvailIndex();
        }

        boolean published() {
            int idx = ring.publishedAvailIndex();
            if (idx == reported || idx == ring.lastAvailIndex()) {
                return false;
            }
            reported = idx;
            return true;
        }
    }
}
