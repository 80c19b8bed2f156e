package io.jvmm.virtio.vhost.backend;

/**
 * The connection is over without anything having failed: the front-end closed it, or a
 * {@link BackendFaults} fault closed or stalled it. The message is the session's end reason.
 */
final class SessionEnd extends Exception {
    private static final long serialVersionUID = 1L;

    SessionEnd(String reason) {
        super(reason);
    }
}
