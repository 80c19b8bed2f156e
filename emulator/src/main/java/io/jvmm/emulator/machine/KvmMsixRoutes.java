package io.jvmm.emulator.machine;

import io.jvmm.chardev.EventContext;
import io.jvmm.chardev.EventFd;
import io.jvmm.chardev.Registration;
import io.jvmm.emulator.kvm.KvmVm;
import io.jvmm.pci.dispatch.IoCompletion;
import io.jvmm.pci.msix.InterruptSink;
import io.jvmm.pci.msix.MsiMessage;
import io.jvmm.pci.msix.Msix;
import io.jvmm.pci.msix.MsixVectorObserver;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.jvmm.pci.msix.SignalResult;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.ObjLongConsumer;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * MSI-X under KVM: every vector of a device is a KVM GSI route (its current address/data) fed by
 * an irqfd. While a vector is unmasked its irqfd is attached, so a signal goes straight from the
 * eventfd into the guest; masking detaches it and watches the eventfd on the device's context, so
 * a signal there only sets the PBA bit (rule 2); unmasking re-attaches the route first, then
 * drains the eventfd and delivers what arrived in between.
 *
 * <p>In-process devices signal through {@link Msix#signal}, which ends here: an attached vector's
 * irqfd is written, anything else is injected with KVM_SIGNAL_MSI.
 */
final class KvmMsixRoutes implements InterruptSink {
    private static final Logger log = LoggerFactory.getLogger(KvmMsixRoutes.class);

    private final KvmVm vm;
    private final Map<Msix, VectorRoute[]> devices = new ConcurrentHashMap<>();
    private final AtomicLong delivered = new AtomicLong();

    KvmMsixRoutes(KvmVm vm) {
        this.vm = vm;
    }

    /** One vector's route: the GSI, the irqfd, and whether KVM listens on it right now. */
    private static final class VectorRoute {
        final int gsi;
        final EventFd fd = EventFd.create();
        volatile boolean attached;
        volatile boolean routed;
        Registration maskedWatch;
        /** Eventfds of others connected to this vector ({@link #connect}); guarded by the route. */
        final List<Source> sources = new ArrayList<>();

        VectorRoute(int gsi) {
            this.gsi = gsi;
        }
    }

    /** An eventfd someone else owns, raising a vector: an irqfd on its GSI while the vector is unmasked, watched while masked. */
    private static final class Source {
        final EventFd fd;
        final EventContext context;
        final ObjLongConsumer<SignalResult> seen;
        boolean attached;
        Registration watch;

        Source(EventFd fd, EventContext context, ObjLongConsumer<SignalResult> seen) {
            this.fd = fd;
            this.context = context;
            this.seen = seen;
        }
    }

    /** Wires every vector of {@code msix}; masked signals are watched on {@code context}. */
    void attach(Msix msix, EventContext context) {
        VectorRoute[] routes = new VectorRoute[msix.vectorCount()];
        for (int v = 0; v < routes.length; v++) {
            routes[v] = new VectorRoute(vm.allocateGsi());
            watchMasked(msix, v, routes[v], context);
        }
        devices.put(msix, routes);
        msix.addObserver(new MsixVectorObserver() {
            @Override
            public void vectorChanged(int vector, MsiMessage message) {
                VectorRoute r = routes[vector];
                vm.setMsiRoute(r.gsi, message.address(), message.data());
                r.routed = true;
            }

            @Override
            public CompletableFuture<Void> vectorMasked(int vector) {
                VectorRoute r = routes[vector];
                if (r.attached) {
                    r.attached = false;
                    vm.detachIrqfd(r.fd, r.gsi);
                }
                watchMasked(msix, vector, r, context);
                synchronized (r) {
                    for (Source src : r.sources) {
                        watchSource(msix, vector, r, src);
                    }
                }
                return IoCompletion.DONE;
            }

            @Override
            public CompletableFuture<Void> vectorUnmasked(int vector) {
                VectorRoute r = routes[vector];
                if (!r.routed) {
                    MsiMessage m = msix.message(vector);
                    vm.setMsiRoute(r.gsi, m.address(), m.data());
                    r.routed = true;
                }
                if (r.maskedWatch != null) {
                    r.maskedWatch.cancel();
                    r.maskedWatch = null;
                }
                vm.attachIrqfd(r.fd, r.gsi);   // the guest route first ...
                r.attached = true;
                if (r.fd.consume() > 0) {      // ... then what arrived while masked
                    msix.signal(vector);
                }
                synchronized (r) {
                    for (Source src : r.sources) {
                        attachSource(msix, vector, r, src);
                    }
                }
                return IoCompletion.DONE;
            }
        });
    }

    private void watchMasked(Msix msix, int vector, VectorRoute r, EventContext context) {
        if (r.maskedWatch == null) {
            r.maskedWatch = context.addEventFd(r.fd, msix.deviceId() + " masked vector " + vector, n -> msix.signal(vector));
        }
    }

    /** Stops watching {@code src} and makes it an irqfd on the route, then delivers what came in between. */
    private void attachSource(Msix msix, int vector, VectorRoute r, Source src) {
        if (src.watch != null) {
            src.watch.cancel();
            src.watch = null;
        }
        if (!src.attached) {
            vm.attachIrqfd(src.fd, r.gsi);
            src.attached = true;
        }
        long n = src.fd.consume();
        if (n > 0) {
            src.seen.accept(msix.signal(vector), n);
        }
    }

    /** Takes {@code src} off the route and watches it, so a signal sets the pending bit. */
    private void watchSource(Msix msix, int vector, VectorRoute r, Source src) {
        if (src.attached) {
            vm.detachIrqfd(src.fd, r.gsi);
            src.attached = false;
        }
        if (src.watch == null) {
            src.watch = src.context.addEventFd(src.fd, msix.deviceId() + " masked source of vector " + vector,
                    n -> src.seen.accept(msix.signal(vector), n));
        }
    }

    /**
     * {@link io.jvmm.pci.msix.GuestNotifiers#connect} under KVM: {@code source} becomes a second irqfd
     * of the vector's GSI while the vector is unmasked (a peer's signal goes straight into the guest),
     * and is watched on {@code context} while it is masked (rule 2).
     */
    Registration connect(Msix msix, int vector, EventFd source, EventContext context, ObjLongConsumer<SignalResult> seen) {
        VectorRoute[] routes = devices.get(msix);
        if (routes == null || vector < 0 || vector >= routes.length) {
            throw new IllegalArgumentException(msix.deviceId() + ": no MSI-X vector " + vector + " on this machine");
        }
        VectorRoute r = routes[vector];
        Source src = new Source(source, context, seen);
        synchronized (r) {
            r.sources.add(src);
            if (r.attached) {
                if (!r.routed) {
                    MsiMessage m = msix.message(vector);
                    vm.setMsiRoute(r.gsi, m.address(), m.data());
                    r.routed = true;
                }
                attachSource(msix, vector, r, src);
            } else {
                watchSource(msix, vector, r, src);
            }
        }
        String what = msix.deviceId() + " source eventfd " + source.fd() + " of vector " + vector;
        return new Registration() {
            private volatile boolean cancelled;

            @Override
            public String what() {
                return what;
            }

            @Override
            public void cancel() {
                synchronized (r) {
                    if (cancelled) {
                        return;
                    }
                    cancelled = true;
                    r.sources.remove(src);
                    if (src.watch != null) {
                        src.watch.cancel();
                    }
                    if (src.attached) {
                        try {
                            vm.detachIrqfd(src.fd, r.gsi);
                        } catch (RuntimeException e) {
                            log.debug("detaching source irqfd for GSI {}: {}", r.gsi, e.toString());
                        }
                        src.attached = false;
                    }
                }
            }

            @Override
            public boolean isCancelled() {
                return cancelled;
            }
        };
    }

    /** The eventfd a back-end in another process may signal for a vector (vhost-user call fd). */
    EventFd vectorEventFd(Msix msix, int vector) {
        return devices.get(msix)[vector].fd;
    }

    long delivered() {
        return delivered.get();
    }

    @Override
    public void deliver(MsiMessage message) {
        delivered.incrementAndGet();
        vm.signalMsi(message.address(), message.data());
    }

    @Override
    public void deliver(Msix source, int vector, MsiMessage message) {
        VectorRoute[] routes = devices.get(source);
        VectorRoute r = routes == null ? null : routes[vector];
        if (r != null && r.attached) {
            delivered.incrementAndGet();
            r.fd.signal();
        } else {
            deliver(message);
        }
    }

    void close() {
        for (VectorRoute[] routes : devices.values()) {
            for (VectorRoute r : routes) {
                try {
                    if (r.attached) {
                        vm.detachIrqfd(r.fd, r.gsi);
                    }
                } catch (RuntimeException e) {
                    log.debug("detaching irqfd for GSI {}: {}", r.gsi, e.toString());
                }
                synchronized (r) {
                    for (Source src : r.sources) {
                        if (src.attached) {
                            try {
                                vm.detachIrqfd(src.fd, r.gsi);
                            } catch (RuntimeException e) {
                                log.debug("detaching source irqfd for GSI {}: {}", r.gsi, e.toString());
                            }
                            src.attached = false;
                        }
                    }
                }
                r.fd.close();
            }
        }
    }
}
