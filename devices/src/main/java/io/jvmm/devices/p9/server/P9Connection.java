package io.jvmm.devices.p9.server;

import io.netty.buffer.ByteBuf;

/**
 * Where a session's answers go: a socket (Netty) or a virtqueue (the in-process device). Calls
 * come with the session's lock held, in the order the client must see them, so an implementation
 * only has to keep that order (a Netty write from any thread, a push to the used ring).
 */
public interface P9Connection {
    /** The reply to {@code request} (the implementation releases it). */
    void send(Request request, ByteBuf reply);

    /**
     * {@code request} ends without a reply (a Tflush cancelled it before it started): release
     * whatever the transport holds for it. The Rflush follows.
     */
    void cancelled(Request request);

    /** Names the peer in logs. */
    String describe();
}
