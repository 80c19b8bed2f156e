/**
 * vhost-user (QEMU's docs/interop/vhost-user.rst): the wire format shared by both ends.
 *
 * <ul>
 * <li>{@link io.jvmm.virtio.vhost.VhostUserRequest} names every message type with its payload
 *     shapes; {@link io.jvmm.virtio.vhost.VhostUserHeader} and the payload records
 *     ({@link io.jvmm.virtio.vhost.VringState}, {@link io.jvmm.virtio.vhost.VringAddress},
 *     {@link io.jvmm.virtio.vhost.VringFd}, {@link io.jvmm.virtio.vhost.MemoryTable},
 *     {@link io.jvmm.virtio.vhost.DeviceConfig}) encode and strictly decode them;</li>
 * <li>{@link io.jvmm.virtio.vhost.VhostUserChannel} frames messages over a Unix socket, bytes
 *     and fds in one sendmsg;</li>
 * <li>{@link io.jvmm.pci.msix.GuestNotifiers} is how a machine hands a vhost-user device
 *     the eventfd that raises an MSI-X vector (KVM: the irqfd;
 *     {@link io.jvmm.pci.msix.ContextGuestNotifiers} without a CPU).</li>
 * </ul>
 *
 * The front-end (a virtio device whose rings a back-end serves, rules 1 and 2) is in
 * {@code frontend}; a Java back-end with fault injection (rule 3) in {@code backend}.
 */
package io.jvmm.virtio.vhost;
