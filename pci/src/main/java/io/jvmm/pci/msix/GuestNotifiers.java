package io.jvmm.pci.msix;

import io.jvmm.chardev.EventContext;
import io.jvmm.chardev.EventFd;
import io.jvmm.chardev.Registration;
import java.util.function.ObjLongConsumer;

/**
 * How the machine connects a vhost-user back-end's call fds to the guest: for each MSI-X vector
 * of a device, the "guest-connected" eventfd whose signal raises that vector.
 *
 * <p>Under KVM it is the vector's irqfd, so while the vector is unmasked a completion goes from
 * the back-end into the guest without passing through Java. With no CPU
 * ({@link ContextGuestNotifiers}) it is an eventfd an event context watches and turns into
 * {@link Msix#signal}.
 *
 * <p>Contract: the same fd for the same (msix, vector) for as long as the machine lives (the
 * provider owns and closes it), and a signal that arrives while the vector is masked is never
 * lost: it ends up as the vector's pending bit. The device itself switches a masked vector's
 * back-ends to an internal eventfd (rule 2), so this only covers the short window before the
 * back-end acknowledges the switch.
 */
@FunctionalInterface
public interface GuestNotifiers {
    /**
     * The eventfd raising {@code vector} of {@code msix}.
     *
     * @throws IllegalArgumentException if the vector is out of range or the device unknown
     */
    EventFd notifier(Msix msix, int vector);

    /**
     * Makes every signal of {@code source}, an eventfd someone else owns and keeps (one an ivshmem
     * server sent), raise {@code vector}, with masking per rule 2 (a signal while the vector is
     * masked sets its pending bit; unmasking delivers it once), until the registration is
     * cancelled. By default the source is watched on {@code context} and each signal becomes
     * {@link Msix#signal}; a machine that can do better overrides it (KVM: the source itself is an
     * irqfd on the vector's route while the vector is unmasked, so a signal never passes through Java).
     *
     * @param seen told, on {@code context}, of the signals that pass through this process (how many,
     *             and what {@link Msix#signal} made of them): all of them by default, under KVM
     *             only those that arrive while the vector is masked
     */
    default Registration connect(Msix msix, int vector, EventFd source, EventContext context, ObjLongConsumer<SignalResult> seen) {
        if (vector < 0 || vector >= msix.vectorCount()) {
            throw new IllegalArgumentException(msix.deviceId() + ": no MSI-X vector " + vector + " (0.." + (msix.vectorCount() - 1) + ")");
        }
        return context.addEventFd(source, msix.deviceId() + " source of vector " + vector, n -> seen.accept(msix.signal(vector), n));
    }
}
