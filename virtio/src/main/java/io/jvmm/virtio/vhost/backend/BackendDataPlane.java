package io.jvmm.virtio.vhost.backend;

import io.jvmm.chardev.EventContext;
import io.jvmm.chardev.EventFd;
import io.jvmm.virtio.VirtioFeatures;
import io.jvmm.virtio.queue.SplitVirtqueue;
import io.jvmm.virtio.queue.VirtqueueFault;
import io.jvmm.virtio.vhost.VringAddress;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The back-end's data plane: its rings, the front-end memory they live in, and the event
 * context that watches kick fds and serves rings with the {@link BackendDevice}.
 *
 * <p>Every change to a ring runs on that context while the control thread waits for it, so the
 * reply to a request goes out only after the change took effect. A ring starts at SET_VRING_KICK
 * and stops at GET_VRING_BASE. Rule 3: a kick on a started but disabled ring is remembered and
 * served once the ring is enabled (unless {@link BackendFaults#dropKicksWhileDisabled()}).
 */
final class BackendDataPlane implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(BackendDataPlane.class);
    private static final Duration TIMEOUT = Duration.ofSeconds(10);

    private final String name;
    private final BackendDevice device;
    private final boolean dropKicksWhileDisabled;
    private final EventContext context;
    private final BackendVring[] vrings;
    private final AtomicLong kicksRemembered = new AtomicLong();
    private final AtomicLong kicksDropped = new AtomicLong();
    private BackendMemory memory;   // on the data plane only

    BackendDataPlane(String name, BackendDevice device, BackendFaults faults, BackendStats stats) {
        this.name = name;
        this.device = device;
        this.dropKicksWhileDisabled = faults.dropKicksWhileDisabled();
        this.vrings = new BackendVring[device.queueCount()];
        for (int i = 0; i < vrings.length; i++) {
            vrings[i] = new BackendVring(i, stats);
        }
        this.context = EventContext.start("vhost-backend-" + name);
    }

    /** Ring {@code index}, refused if the device has no such queue. */
    BackendVring vring(int index) {
        if (index < 0 || index >= vrings.length) {
            throw new Refusal("vring " + index + " does not exist (" + vrings.length + " queues)");
        }
        return vrings[index];
    }

    // ---------------------------------------------------------------- changes, from the control thread

    /**
     * Installs a new memory table, re-translating running rings into it, and releases the old one.
     * On failure {@code mapped} is released instead.
     */
    void installMemory(BackendMemory mapped, long features) {
        try {
            onDataPlane("install the memory table", () -> {
                BackendMemory old = memory;
                memory = mapped;
                for (BackendVring v : vrings) {
                    if (v.started) {
                        v.base = v.queue.lastAvailIndex();
                        v.queue = buildQueue(v, features);
                    }
                }
                if (old != null) {
                    old.close();
                }
                return null;
            });
        } catch (RuntimeException e) {
            mapped.close();
            throw e;
        }
    }

    void setSize(BackendVring v, int num) {
        onDataPlane("set the size of vring " + v.index, () -> {
            v.num = num;
            return null;
        });
    }

    void setBase(BackendVring v, int base) {
        onDataPlane("set the base of vring " + v.index, () -> {
            v.base = base;
            return null;
        });
    }

    /** New ring addresses; a running ring goes on from where it is, at the new place. */
    void setAddress(BackendVring v, VringAddress address, long features) {
        onDataPlane("set the addresses of vring " + v.index, () -> {
            v.address = address;
            if (v.started) {
                v.base = v.queue.lastAvailIndex();
                v.queue = buildQueue(v, features);
            }
            return null;
        });
    }

    /**
     * Starts (or restarts) a ring with {@code kick}, which it owns from here in every outcome.
     *
     * @param enable whether the ring starts enabled (it does unless protocol features were negotiated)
     */
    void start(BackendVring v, EventFd kick, boolean enable, long features) {
        try {
            onDataPlane("start vring " + v.index, () -> {
                if (v.started) {
                    v.stop();
                }
                v.queue = buildQueue(v, features);
                v.kick = kick;
                v.started = true;
                if (enable) {
                    v.enabled = true;
                }
                v.kickWatch = context.addEventFd(kick, name + " kick of vring " + v.index, n -> kicked(v));
                return null;
            });
        } catch (RuntimeException e) {
            if (v.kick != kick) {
                kick.close();
            }
            throw e;
        }
    }

    /** Stops a ring (GET_VRING_BASE); returns the index of the next available entry to serve. */
    int stop(BackendVring v) {
        return onDataPlane("stop vring " + v.index, v::stop);
    }

    /** Installs a new error fd (null: none) and closes the old one. */
    void switchErr(BackendVring v, EventFd err) {
        onDataPlane("switch the error fd of vring " + v.index, () -> {
            EventFd old = v.err;
            v.err = err;
            if (old != null) {
                old.close();
            }
            return null;
        });
    }

    void enable(BackendVring v, boolean on) {
        onDataPlane("enable vring " + v.index, () -> {
            v.enabled = on;
            if (v.enabled && v.kickPending) {   // rule 3: the kick that came too early
                v.kickPending = false;
                serveRing(v);
            }
            return null;
        });
    }

    /** RESET_DEVICE or RESET_OWNER: every ring forgotten, the device reset. */
    void reset() {
        onDataPlane("reset the device", () -> {
            for (BackendVring v : vrings) {
                v.clear();
            }
            device.reset();
            return null;
        });
    }

    /** Releases what a connection left behind: rings, their fds, the memory mappings. */
    void endSession() {
        try {
            if (!context.isClosed()) {
                onDataPlane("end the session", () -> {
                    for (BackendVring v : vrings) {
                        v.clear();
                    }
                    if (memory != null) {
                        memory.close();
                        memory = null;
                    }
                    return null;
                });
            }
        } catch (RuntimeException e) {
            log.warn("{}: releasing the session failed: {}", name, e.getMessage());
        }
    }

    // ---------------------------------------------------------------- serving, on the data plane

    /** A ring over the current memory, from the front-end's user addresses. */
    private SplitVirtqueue buildQueue(BackendVring v, long features) {
        BackendMemory mem = memory;
        if (mem == null) {
            throw new Refusal("vring " + v.index + " started before SET_MEM_TABLE");
        }
        if (v.address == null || v.num == 0) {
            throw new Refusal("vring " + v.index + " started before SET_VRING_ADDR and SET_VRING_NUM");
        }
        int n = v.num;
        long desc = mem.toGuest(v.address.desc(), 16L * n, "descriptor table of vring " + v.index);
        long avail = mem.toGuest(v.address.avail(), 6L + 2L * n, "available ring of vring " + v.index);
        long used = mem.toGuest(v.address.used(), 6L + 8L * n, "used ring of vring " + v.index);
        try {
            SplitVirtqueue q = new SplitVirtqueue(v.index, mem.guest(), n, SplitVirtqueue.MAX_SIZE, desc, avail, used,
                    VirtioFeatures.has(features, VirtioFeatures.RING_EVENT_IDX),
                    VirtioFeatures.has(features, VirtioFeatures.RING_INDIRECT_DESC), v::signalCall);
            q.setLastAvailIndex(v.base);
            return q;
        } catch (VirtqueueFault e) {
            throw new Refusal(e.getMessage());
        }
    }

    private void kicked(BackendVring v) {
        if (!v.started || v.faulted) {
            return;
        }
        if (!v.enabled) {
            if (dropKicksWhileDisabled) {
                kicksDropped.incrementAndGet();
                log.debug("{}: kick on disabled vring {} dropped (rule 3 switched off)", name, v.index);
            } else {
                if (!v.kickPending) {
                    kicksRemembered.incrementAndGet();
                }
                v.kickPending = true;
            }
            return;
        }
        serveRing(v);
    }

    private void serveRing(BackendVring v) {
        try {
            device.process(v.index, v.queue);
        } catch (VirtqueueFault e) {
            v.faulted = true;
            log.warn("{}: vring {} stopped: {}", name, v.index, e.getMessage());
            if (v.err != null) {
                v.err.signal();
            }
        }
    }

    /**
     * A delay of the control thread (fault injection): a pause of the calling thread, or, when
     * the explorer's controller runs the back-end, a point where it may run other work.
     */
    void pause(Duration delay, String what) {
        if (delay.isZero()) {
            return;
        }
        EventContext.Controller controller = context.controller();
        if (controller != null) {
            controller.pause(delay, name + ": " + what);
        } else {
            BackendFaults.pause(delay);
        }
    }

    private <T> T onDataPlane(String what, Callable<T> work) {
        try {
            CompletableFuture<T> f = context.submit(work);
            if (context.controller() != null) {
                context.waitUntil(f::isDone, TIMEOUT, "the data plane of " + name + " to " + what);   // no thread would complete f
            }
            return f.get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException re) {
                throw re;
            }
            throw new IllegalStateException(what + " failed: " + e.getCause(), e.getCause());
        } catch (TimeoutException e) {
            throw new IllegalStateException("the data plane did not " + what + " within " + TIMEOUT.toMillis() + " ms");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting to " + what, e);
        }
    }

    // ---------------------------------------------------------------- observation

    /** Kicks that came on a disabled ring and were kept for its enabling (rule 3). */
    long kicksRemembered() {
        return kicksRemembered.get();
    }

    /** Kicks on a disabled ring thrown away (only with rule 3 switched off). */
    long kicksDropped() {
        return kicksDropped.get();
    }

    /** Stops the event context; call after the session ended. */
    @Override
    public void close() {
        context.close();
    }
}
