package io.jvmm.emulator.vfiouser;

import io.jvmm.chardev.EventContext;
import io.jvmm.chardev.EventFd;
import io.jvmm.pci.msix.Msix;
import io.jvmm.pci.msix.ContextGuestNotifiers;
import io.jvmm.pci.msix.GuestNotifiers;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@link GuestNotifiers} of a device served over vfio-user (what a vhost-user back-end's call
 * fds point at while a vector is unmasked): per vector, one eventfd of ours, stable for the life
 * of the device, watched on this device's interrupt context, where a signal becomes
 * {@link Msix#signal}. From there the vector's state decides: unmasked, {@link VectorEventFds}
 * signals the client's current eventfd; masked (no client eventfd yet, masked by the client, or
 * the client gone) it sets the pending bit, which {@link DeviceIrqs} delivers when an eventfd is
 * installed again.
 *
 * <p>Why not hand the back-end the client's eventfds themselves (no Java hop): they come and go
 * (every SET_IRQS may replace one, a reconnect closes them all), while the notifier contract asks
 * for the same fd for as long as the device lives, and a back-end keeps the fd it was given until
 * it is sent another. Forwarding keeps every client-side change local to {@link VectorEventFds}
 * and leaves masking to {@link Msix}, whose PBA is what the client reads. The cost is one eventfd
 * read and write in Java per interrupt, a few microseconds.
 *
 * <p>The context starts with the first notifier asked for, so a device without a vhost-user
 * back-end costs no thread.
 */
final class ServedGuestNotifiers implements GuestNotifiers, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ServedGuestNotifiers.class);

    private EventContext context;
    private ContextGuestNotifiers notifiers;
    private boolean closed;

    @Override
    public synchronized EventFd notifier(Msix msix, int vector) {
        if (closed) {
            throw new IllegalStateException((msix == null ? "device" : msix.deviceId())
                    + ": the vfio-user guest notifiers are closed (the device is being stopped)");
        }
        if (notifiers == null) {
            context = EventContext.start("vfio-user-irq-" + msix.deviceId());
            notifiers = new ContextGuestNotifiers(context);
            log.debug("{}: guest notifiers forward on context {}", msix.deviceId(), context.name());
        }
        return notifiers.notifier(msix, vector);
    }

    /** Whether any notifier was handed out (so a context runs). */
    synchronized boolean started() {
        return notifiers != null;
    }

    /** Stops watching and closes the notifiers and their context: only once no back-end can signal them. */
    @Override
    public synchronized void close() {
        closed = true;
        if (notifiers != null) {
            notifiers.close();
            context.close();
            notifiers = null;
            context = null;
        }
    }
}
