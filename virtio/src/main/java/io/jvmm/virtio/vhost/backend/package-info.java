/**
 * A vhost-user back-end in Java: {@link io.jvmm.virtio.vhost.backend.VhostUserBackend} serves a
 * {@link io.jvmm.virtio.vhost.backend.BackendDevice} (for tests,
 * {@link io.jvmm.virtio.vhost.backend.FillingDevice}) in-process or as a separate process
 * ({@link io.jvmm.virtio.vhost.backend.VhostUserBackendMain}), follows rule 3, and misbehaves on
 * request ({@link io.jvmm.virtio.vhost.backend.BackendFaults}). Inside: a session per connection
 * ({@code BackendSession}), the table of request handlers ({@code BackendProtocol}), the data
 * plane ({@code BackendDataPlane}) and the channel that injects the faults
 * ({@code FaultInjectingChannel}).
 */
package io.jvmm.virtio.vhost.backend;
