package io.jvmm.virtio.vhost.frontend;

import io.jvmm.virtio.vhost.PayloadKind;
import io.jvmm.virtio.vhost.VhostUserMessage;
import io.jvmm.virtio.vhost.VhostUserRequest;
import java.util.concurrent.CompletableFuture;

/**
 * A request waiting for its reply. Replies come in request order, so the oldest pending reply
 * is the only one whose deadline matters.
 */
final class PendingReply {
    final VhostUserRequest request;
    final PayloadKind replyPayload;
    final String what;
    final CompletableFuture<VhostUserMessage> future = new CompletableFuture<>();
    /** Set when the request is actually sent; read by the deadline check. */
    volatile long deadlineNanos;

    PendingReply(VhostUserRequest request, PayloadKind replyPayload, String what) {
        this.request = request;
        this.replyPayload = replyPayload;
        this.what = what;
    }
}
