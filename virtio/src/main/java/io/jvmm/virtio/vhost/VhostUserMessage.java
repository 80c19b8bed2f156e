package io.jvmm.virtio.vhost;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Objects;

/**
 * One vhost-user message: header fields, payload bytes and the fds that travelled with it. A
 * received message owns its fds: whoever takes it must adopt or close them
 * ({@link io.jvmm.chardev.Fds#closeQuietly(int...)}).
 */
public record VhostUserMessage(int request, int flags, byte[] payload, int[] fds) {
    private static final int[] NO_FDS = new int[0];
    private static final byte[] NO_PAYLOAD = new byte[0];

    public VhostUserMessage {
        payload = payload == null ? NO_PAYLOAD : payload;
        fds = fds == null ? NO_FDS : fds;
    }

    /** A front-end request (version 1, NEED_REPLY as asked). */
    public static VhostUserMessage request(VhostUserRequest request, boolean needReply, byte[] payload, int... fds) {
        Objects.requireNonNull(request, "request");
        int flags = VhostUserHeader.VERSION | (needReply ? VhostUserHeader.NEED_REPLY : 0);
        return new VhostUserMessage(request.id(), flags, payload, fds);
    }

    /** A back-end reply to {@code request}. */
    public static VhostUserMessage reply(int request, byte[] payload) {
        return new VhostUserMessage(request, VhostUserHeader.VERSION | VhostUserHeader.REPLY, payload, NO_FDS);
    }

    /** The REPLY_ACK answer: u64 0 for success, non-zero for failure. */
    public static VhostUserMessage ack(int request, boolean success) {
        return reply(request, Payloads.u64(success ? 0 : 1));
    }

    public VhostUserHeader header() {
        return new VhostUserHeader(request, flags, payload.length);
    }

    /** The request type, or null if the id is not one the specification defines. */
    public VhostUserRequest type() {
        return VhostUserRequest.byId(request);
    }

    public String name() {
        return VhostUserRequest.describe(request);
    }

    public boolean isReply() {
        return (flags & VhostUserHeader.REPLY) != 0;
    }

    public boolean needsReply() {
        return (flags & VhostUserHeader.NEED_REPLY) != 0;
    }

    /** A read-only little-endian view of the payload. */
    public ByteBuffer payloadBuffer() {
        return ByteBuffer.wrap(payload).asReadOnlyBuffer().order(ByteOrder.LITTLE_ENDIAN);
    }

    /** Header and payload as they go on the wire. */
    public ByteBuffer encode() {
        ByteBuffer b = ByteBuffer.allocate(VhostUserHeader.SIZE + payload.length).order(ByteOrder.LITTLE_ENDIAN);
        header().encode(b);
        b.put(payload).flip();
        return b;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof VhostUserMessage m && m.request == request && m.flags == flags
                && Arrays.equals(m.payload, payload) && Arrays.equals(m.fds, fds);
    }

    @Override
    public int hashCode() {
        return 31 * (31 * request + flags) + Arrays.hashCode(payload);
    }

    @Override
    public String toString() {
        return String.format("%s[flags 0x%x, %d payload bytes, fds %s]", name(), flags, payload.length, Arrays.toString(fds));
    }
}
