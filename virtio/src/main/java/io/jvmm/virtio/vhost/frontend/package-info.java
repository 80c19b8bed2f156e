/**
 * The vhost-user front-end: {@link io.jvmm.virtio.vhost.frontend.VhostUserConnection} (ordered
 * sending, replies matched in order, bounded waits, final failure),
 * {@link io.jvmm.virtio.vhost.frontend.VhostUserFrontend} (handshake and one method per message,
 * acknowledged by REPLY_ACK or a GET_FEATURES round trip) and
 * {@link io.jvmm.virtio.vhost.frontend.VhostUserDevice}, a {@link io.jvmm.virtio.VirtioDevice}
 * whose queues a back-end serves. A device type plugs in as a
 * {@link io.jvmm.virtio.vhost.frontend.VhostUserDeviceModel}; options, including the
 * {@code x-sync-vring} experiment switch, are {@link io.jvmm.virtio.vhost.frontend.VhostUserDeviceOptions}.
 */
package io.jvmm.virtio.vhost.frontend;
