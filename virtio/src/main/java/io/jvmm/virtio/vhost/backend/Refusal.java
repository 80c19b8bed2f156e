package io.jvmm.virtio.vhost.backend;

/**
 * The front-end asked for something this back-end cannot or will not do. The session answers it
 * with a failed acknowledgement (when one is wanted) and goes on serving.
 */
final class Refusal extends RuntimeException {
    private static final long serialVersionUID = 1L;

    Refusal(String message) {
        super(message);
    }
}
