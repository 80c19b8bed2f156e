package io.jvmm.virtio.vhost.frontend;

import io.jvmm.chardev.EventContext;
import io.jvmm.chardev.ProcessExitWatch;
import io.jvmm.chardev.Registration;
import io.jvmm.virtio.queue.DescriptorChain;
import io.jvmm.virtio.queue.InFlightTracker;
import io.jvmm.virtio.queue.SplitVirtqueue;
import io.jvmm.virtio.queue.VirtqueueFault;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A vhost-user device's requests in flight: tracked while the back-end lives, and completed with
 * the device type's {@link ErrorCompletion} once it is gone, so the guest's processes get an
 * error instead of waiting for ever (Linux's virtio-fs driver ignores DEVICE_NEEDS_RESET).
 *
 * <p>What is relied on. Under KVM the guest's kicks reach the back-end through ioeventfds and its
 * completions reach the guest through irqfds, so no Java code sees a request go by. The front-end
 * can read the rings in guest memory at any time, though, and an {@link InFlightTracker} per
 * started queue does, on a timer of the device's event context: every {@value #MIN_SCAN_MS} ms
 * while the rings move fast, backing off to every {@value #MAX_SCAN_MS} ms while they are idle.
 * The shadow is exact unless a ring moves by a whole queue size between two scans (then it says
 * so, is counted in {@code jvmm.vhost.user.inflight.overruns}, and is exact again at the next idle
 * moment, where nothing is in flight); inexact, the completion assumes in-order completion. The
 * alternative, vhost-user's INFLIGHT_SHMFD (the back-end keeps the in-flight state in a shared
 * region), needs the back-end's help: QEMU 7.2's virtiofsd does not offer it (libvhost-user
 * implements the messages, but virtiofsd's protocol features do not include the bit), Debian's
 * Rust virtiofsd neither, nor our Java back-end; the shadow works with any of them.
 *
 * <p>When the back-end is gone (its connection ended with end of stream, hang-up, reset or a
 * broken pipe: it no longer writes guest memory), {@link #takeOver} makes the front-end the device
 * of each started ring: a final scan (the used ring is final now), an error reply for every head
 * in flight, oldest first, the used entries, one interrupt per queue whatever the driver's event
 * index says (the back-end may have died between a used entry and its interrupt), and from then on
 * the same error for every new request, on the queue's kick eventfd, until the driver resets the
 * device. A back-end that merely stalled still maps guest memory and may complete a request later,
 * so the device does not take over then.
 *
 * <p>Threads: everything runs on the device's event context; {@link #queueStarted} may be called
 * from any thread (the hand-over to the context is ordered by a session number bumped at {@link #stop}).
 */
final class InFlightRequests {
    private static final Logger log = LoggerFactory.getLogger(InFlightRequests.class);
    static final long MIN_SCAN_MS = 1;
    static final long MAX_SCAN_MS = 50;

    private final String id;
    private final EventContext context;
    private final ErrorCompletion completion;
    private final VhostUserMetrics metrics;
    private final AtomicInteger session = new AtomicInteger();
    private final Map<Integer, Watched> queues = new TreeMap<>();   // on the context
    private Registration timer;
    private Registration processWatch;
    private long scanMs = MIN_SCAN_MS;
    private boolean takenOver;
    private volatile long completed;   // written on the context only

    /** One started ring: the front-end's view of it, and the device side it takes over with. */
    private static final class Watched {
        final VhostQueue queue;
        final SplitVirtqueue ring;
        final InFlightTracker tracker;
        boolean wasExact = true;
        Registration kickWatch;
        boolean faulted;

        Watched(VhostQueue queue, SplitVirtqueue ring, InFlightTracker tracker) {
            this.queue = queue;
            this.ring = ring;
            this.tracker = tracker;
        }
    }

    InFlightRequests(String id, EventContext context, ErrorCompletion completion, VhostUserMetrics metrics) {
        this.id = id;
        this.context = context;
        this.completion = completion;
        this.metrics = metrics;
    }

    /**
     * The back-end is about to start {@code ring} (called before SET_VRING_KICK goes out, so the
     * tracker's first look at the used index precedes anything the back-end does). Any thread.
     */
    void queueStarted(VhostQueue queue, SplitVirtqueue ring) {
        InFlightTracker tracker = new InFlightTracker(queue.index, ring.memory(), ring.size(), ring.availAddress(), ring.usedAddress());
        int s = session.get();
        context.execute(id + " track queue " + queue.index, () -> {
            if (s != session.get()) {
                return;   // reset in between
            }
            Watched w = new Watched(queue, ring, tracker);
            Watched old = queues.put(queue.index, w);
            if (old != null && old.kickWatch != null) {
                old.kickWatch.cancel();
            }
            if (takenOver) {
                serveAfterDeath(w);   // a queue enabled after the back-end died gets errors too
            } else {
                scheduleScan();
            }
        });
    }

    /** Called on the context: the driver reset the device (or the device closes); forget the rings. */
    void stop() {
        session.incrementAndGet();
        if (timer != null) {
            timer.cancel();
            timer = null;
        }
        for (Watched w : queues.values()) {
            if (w.kickWatch != null) {
                w.kickWatch.cancel();
                w.kickWatch = null;
            }
        }
        queues.clear();
        if (processWatch != null) {
            processWatch.cancel();
            processWatch = null;
        }
        takenOver = false;
        scanMs = MIN_SCAN_MS;
    }

    /** Requests completed with the error reply since the device was created. */
    long completed() {
        return completed;
    }

    // ---------------------------------------------------------------- while the back-end lives

    private void scheduleScan() {
        if (timer == null && !takenOver && !queues.isEmpty()) {
            timer = context.schedule(Duration.ofMillis(scanMs), id + " in-flight scan", this::scanAll);
        }
    }

    private void scanAll() {
        timer = null;
        if (takenOver) {
            return;
        }
        boolean busy = false;
        boolean idle = true;
        for (Watched w : queues.values()) {
            int moved = w.tracker.scan();
            busy |= moved * 4 >= w.ring.size();
            idle &= moved == 0;
            noteExactness(w);
        }
        scanMs = busy ? MIN_SCAN_MS : idle ? Math.min(MAX_SCAN_MS, scanMs * 2) : scanMs;
        scheduleScan();
    }

    private void noteExactness(Watched w) {
        boolean exact = w.tracker.isExact();
        if (w.wasExact && !exact) {
            metrics.shadowOverrun();
            log.debug("{}: queue {}: in-flight shadow inexact until the ring is idle: {}", id, w.queue.index, w.tracker.lastLoss());
        }
        w.wasExact = exact;
    }

    // ---------------------------------------------------------------- once it is gone

    /**
     * A back-end that stalled (or broke the protocol) was disconnected but may still write guest
     * memory: take over only once its process {@code pid} has exited. Any thread.
     */
    void takeOverWhenExited(long pid, String why) {
        int s = session.get();
        context.execute(id + " watch the stalled back-end's process", () -> {
            if (s != session.get() || takenOver || queues.isEmpty() || processWatch != null) {
                return;
            }
            processWatch = ProcessExitWatch.watch(context, pid, id + ": exit of back-end process " + pid, () -> {
                processWatch = null;
                if (s == session.get()) {
                    takeOver(why + "; its process " + pid + " has exited since");
                }
            });
            if (processWatch == null) {
                log.info("{}: cannot watch back-end process {}: its requests in flight stay outstanding until the driver resets "
                        + "the device", id, pid);
            }
        });
    }

    /**
     * The back-end is gone: complete every request in flight with the error reply and answer later
     * ones the same way. On the context.
     */
    void takeOver(String why) {
        if (takenOver) {
            return;
        }
        takenOver = true;
        if (timer != null) {
            timer.cancel();
            timer = null;
        }
        if (queues.isEmpty()) {
            return;
        }
        if (completion == null) {
            log.warn("{}: {}; this device type has no error reply, so requests in flight stay outstanding until the driver "
                    + "resets the device", id, why);
            return;
        }
        List<String> perQueue = new ArrayList<>();
        for (Watched w : queues.values()) {
            w.tracker.scan();
            noteExactness(w);
            List<Integer> heads = w.tracker.inFlight();
            boolean exact = w.tracker.isExact();
            w.ring.setLastAvailIndex(w.tracker.availPosition());
            for (int head : heads) {
                answer(w, head);
            }
            w.ring.notifyGuestAlways();
            perQueue.add("queue " + w.queue.index + ": " + heads.size() + (exact ? "" : " (in-order guess: " + w.tracker.lastLoss() + ")"));
            if (!exact) {
                log.warn("{}: queue {}: the in-flight shadow was inexact when the back-end died ({}); completed the avail entries "
                        + "after the used index, which is right for a back-end that completes in order", id, w.queue.index,
                        w.tracker.lastLoss());
            }
            serveAfterDeath(w);
        }
        log.warn("{}: {}; requests in flight completed with an error reply ({}); later requests get the same until the driver "
                + "resets the device", id, why, String.join(", ", perQueue));
    }

    /** From now on every request on the ring gets the error reply, on each kick. */
    private void serveAfterDeath(Watched w) {
        if (completion == null) {
            return;
        }
        if (w.kickWatch == null) {
            w.kickWatch = context.addEventFd(w.queue.kick, id + " queue " + w.queue.index + " requests after the back-end died",
                    n -> serveNew(w));
        }
        serveNew(w);
    }

    private void serveNew(Watched w) {
        if (w.faulted || !takenOver) {
            return;
        }
        try {
            w.ring.drain(chain -> answer(w, chain), w.ring::notifyGuest);
        } catch (VirtqueueFault e) {
            w.faulted = true;
            log.warn("{}: queue {}: stopped answering after the back-end died: {}", id, w.queue.index, e.getMessage());
        }
    }

    private void answer(Watched w, int head) {
        int written = 0;
        try {
            written = completion.write(w.queue.index, w.ring.chain(head));
        } catch (RuntimeException e) {
            log.debug("{}: queue {}: head {} returned without a reply: {}", id, w.queue.index, head, e.getMessage());
        }
        w.ring.push(head, written);
        count();
    }

    private void answer(Watched w, DescriptorChain chain) {
        int written = 0;
        try {
            written = completion.write(w.queue.index, chain);
        } catch (RuntimeException e) {
            log.debug("{}: queue {}: head {} returned without a reply: {}", id, w.queue.index, chain.head(), e.getMessage());
        }
        w.ring.push(chain, written);
        count();
    }

    private void count() {
        completed++;
        metrics.errorCompleted(1);
    }
}
