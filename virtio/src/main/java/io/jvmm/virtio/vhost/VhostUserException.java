package io.jvmm.virtio.vhost;

/**
 * A vhost-user peer failed: it closed the connection, did not answer in time, refused a request
 * or broke the protocol. The message names the peer, the message concerned and what went wrong.
 */
public class VhostUserException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public VhostUserException(String message) {
        super(message);
    }

    public VhostUserException(String message, Throwable cause) {
        super(message, cause);
    }
}
