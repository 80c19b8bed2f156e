package io.jvmm.virtio.pci;

import io.jvmm.chardev.EventContext;
import io.jvmm.chardev.PollSource;
import io.jvmm.chardev.Registration;
import io.jvmm.virtio.VirtioDevice;
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
 * re-served in a spin. While the context polls, the ring suppresses the driver's notifications
 * (no kick, so no eventfd write for the driver and no wake-up for the context); before the
 * context sleeps they are asked for again and the ring re-checked. Made and cancelled under the
 * lifecycle's lock.
 */
final class QueuePollers {
    private final List<Registration> registrations = new ArrayList<>();

    /**
     * Pollers for the enabled rings whose notifications the context serves (not those a vhost-user
     * back-end takes: {@link VirtioDevice#notificationEventFd}); each ready one calls {@code serve}.
     */
    QueuePollers(EventContext context, VirtioDevice device, String deviceName, SplitVirtqueue[] rings, IntConsumer serve) {
        for (int i = 0; i < rings.length; i++) {
            if (rings[i] != null && device.notificationEventFd(i) == null) {
                registrations.add(context.addPoller(deviceName + " queue " + i + " avail index",
                        new RingPoll(rings[i], i, serve)));
            }
        }
    }

    void cancel() {
        registrations.forEach(Registration::cancel);
        registrations.clear();
    }

    /** On the context thread only. */
    private static final class RingPoll implements PollSource {
        private final SplitVirtqueue ring;
        private final int queue;
        private final IntConsumer serve;
        private int reported;
        private boolean faultReported;

        RingPoll(SplitVirtqueue ring, int queue, IntConsumer serve) {
            this.ring = ring;
            this.queue = queue;
            this.serve = serve;
            this.reported = ring.lastAvailIndex();
        }

        @Override
        public boolean ready() {
            int idx = ring.publishedAvailIndex();
            if (idx == reported || idx == ring.lastAvailIndex()) {
                return false;
            }
            reported = idx;
            return true;
        }

        @Override
        public void run() {
            serve.accept(queue);
        }

        @Override
        public void pollStarted() {
            ring.pollingStarted();
        }

        @Override
        public boolean pollEnded() {
            try {
                ring.pollingEnded();   // its answer counts buffers already reported: ready() says what is new
            } catch (RuntimeException fault) {
                // A bad avail index: serving the ring once reports it (the device is marked broken
                // until the driver resets it, which cancels this poller); never again, or the
                // context would not sleep.
                boolean first = !faultReported;
                faultReported = true;
                return first;
            }
            return ready();
        }
    }
}
