package io.jvmm.virtio.vhost;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/** The u64 payload (features, acknowledgements) and the size check every payload decoder starts with. */
public final class Payloads {
    private Payloads() {
    }

    public static byte[] u64(long value) {
        return ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(value).array();
    }

    /** The u64 payload of {@code m}; {@code from} names the peer in the error. */
    public static long decodeU64(VhostUserMessage m, String from) {
        check(m, PayloadKind.U64, from);
        return m.payloadBuffer().getLong();
    }

    /**
     * Checks that m's payload has a size {@code kind} allows.
     *
     * @throws VhostUserProtocolException naming the peer, the message and both sizes
     */
    public static ByteBuffer check(VhostUserMessage m, PayloadKind kind, String from) {
        if (!kind.accepts(m.payload().length)) {
            throw new VhostUserProtocolException(String.format("%s: %s %s has a %d-byte payload, which is not a valid %s payload",
                    from, m.name(), m.isReply() ? "reply" : "request", m.payload().length, kind));
        }
        return m.payloadBuffer();
    }

    static ByteBuffer allocate(int size) {
        return ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
    }
}
