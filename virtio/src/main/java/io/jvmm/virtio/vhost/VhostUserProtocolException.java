package io.jvmm.virtio.vhost;

/**
 * A peer broke the vhost-user protocol: a malformed header, a payload of the wrong size or with
 * impossible values, a reply to the wrong request, fds where none belong. The message names the
 * peer and the message; the connection cannot be trusted afterwards.
 */
public class VhostUserProtocolException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public VhostUserProtocolException(String message) {
        super(message);
    }

    public VhostUserProtocolException(String message, Throwable cause) {
        super(message, cause);
    }
}
