package io.jvmm.pci.msix;

import io.jvmm.chardev.EventFd;

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
}
