package io.jvmm.pci.msix;

import io.jvmm.chardev.EventContext;
import io.jvmm.chardev.EventFd;
import io.jvmm.chardev.Registration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@link GuestNotifiers} for a machine without a CPU (or without irqfds): one eventfd per vector,
 * created on first use and watched on an event context, where every signal becomes
 * {@link Msix#signal} (so a signal while masked sets the pending bit, as the contract asks).
 */
public final class ContextGuestNotifiers implements GuestNotifiers, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ContextGuestNotifiers.class);

    private record Key(Msix msix, int vector) {
    }

    private record Notifier(EventFd fd, Registration watch) {
    }

    private final EventContext context;
    private final Map<Key, Notifier> notifiers = new ConcurrentHashMap<>();
    private volatile boolean closed;

    /** Watches the notifiers on {@code context} (which the caller owns and closes after this). */
    public ContextGuestNotifiers(EventContext context) {
        this.context = Objects.requireNonNull(context, "context");
    }

    @Override
    public EventFd notifier(Msix msix, int vector) {
        Objects.requireNonNull(msix, "msix");
        if (vector < 0 || vector >= msix.vectorCount()) {
            throw new IllegalArgumentException(msix.deviceId() + ": no MSI-X vector " + vector + " (0.." + (msix.vectorCount() - 1) + ")");
        }
        if (closed) {
            throw new IllegalStateException("guest notifiers on context '" + context.name() + "' are closed");
        }
        return notifiers.computeIfAbsent(new Key(msix, vector), k -> {
            EventFd fd = EventFd.create();
            try {
                Registration r = context.addEventFd(fd, msix.deviceId() + " guest notifier of vector " + vector,
                        n -> msix.signal(vector));
                log.debug("{}: guest notifier for vector {} is eventfd {}", msix.deviceId(), vector, fd.fd());
                return new Notifier(fd, r);
            } catch (RuntimeException e) {
                fd.close();
                throw e;
            }
        }).fd();
    }

    /** Stops watching and closes every notifier (only once no back-end can signal them). */
    @Override
    public void close() {
        closed = true;
        List<Notifier> all = new ArrayList<>(notifiers.values());
        notifiers.clear();
        for (Notifier n : all) {
            n.watch().cancel();
            n.fd().close();
        }
    }
}
