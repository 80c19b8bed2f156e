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

import java.util.Map;
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

        VectorRoute(int gsi) {
            this.gsi = gsi;
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
                return IoCompletion.DONE;
            }
        });
    }

    private void watchMasked(Msix msix, int vector, VectorRoute r, EventContext context) {
        if (r.maskedWatch == null) {
            r.maskedWatch = context.addEventFd(r.fd, msix.deviceId() + " masked vector " + vector, n -> msix.signal(vector));
        }
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
                r.fd.close();
            }
        }
    }
}
