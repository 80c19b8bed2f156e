package io.jvmm.virtio.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.jvmm.chardev.EndOfStreamException;
import io.jvmm.chardev.Fds;
import io.jvmm.chardev.UnixSocketChannel;
import io.jvmm.virtio.vhost.DeviceConfig;
import io.jvmm.virtio.vhost.MemoryTable;
import io.jvmm.virtio.vhost.PayloadKind;
import io.jvmm.virtio.vhost.Payloads;
import io.jvmm.virtio.vhost.VhostUserChannel;
import io.jvmm.virtio.vhost.VhostUserException;
import io.jvmm.virtio.vhost.VhostUserMessage;
import io.jvmm.virtio.vhost.VhostUserProtocolException;
import io.jvmm.virtio.vhost.VringAddress;
import io.jvmm.virtio.vhost.VringFd;
import io.jvmm.virtio.vhost.VringState;
import java.nio.ByteBuffer;
import java.util.function.Consumer;

/**
 * Fuzz target for what a vhost-user peer sends: a byte stream (replies to the front-end, requests
 * to the Java back-end) through the real framing ({@link VhostUserChannel} over a socketpair) and
 * then every payload decoder. A bad stream must end as a {@link VhostUserException} (a protocol
 * error) or end of stream; anything else thrown is a bug. Regression inputs in
 * {@code VhostUserMessageFuzzTestInputs/stream/}.
 */
class VhostUserMessageFuzzTest {
    private static final String PEER = "fuzzed vhost-user peer";

    @FuzzTest(maxDuration = "30s")
    void stream(byte[] bytes) {
        if (bytes.length > 100_000) {
            return;   // more than a socket buffer holds without a reader
        }
        UnixSocketChannel[] pair = UnixSocketChannel.pair();
        try (VhostUserChannel channel = new VhostUserChannel(pair[0], PEER)) {
            if (bytes.length > 0) {
                pair[1].send(ByteBuffer.wrap(bytes));
            }
            pair[1].shutdownOutput();
            for (int i = 0; i < 1000; i++) {
                VhostUserMessage m;
                try {
                    m = channel.receive();
                } catch (EndOfStreamException | VhostUserException | VhostUserProtocolException end) {
                    return;
                }
                try {
                    decodeAll(m);
                } finally {
                    Fds.closeQuietly(m.fds());
                }
            }
        } finally {
            pair[1].close();
        }
    }

    private static void decodeAll(VhostUserMessage m) {
        m.name();
        m.type();
        for (PayloadKind kind : PayloadKind.values()) {
            kind.accepts(m.payload().length);
        }
        attempt(m, x -> Payloads.decodeU64(x, PEER));
        attempt(m, x -> VringState.decode(x, PEER));
        attempt(m, x -> VringAddress.decode(x, PEER));
        attempt(m, x -> VringFd.decode(x, PEER));
        attempt(m, x -> DeviceConfig.decode(x, PEER));
        attempt(m, x -> MemoryTable.decode(x, PEER));
    }

    private static void attempt(VhostUserMessage m, Consumer<VhostUserMessage> decoder) {
        try {
            decoder.accept(m);
        } catch (VhostUserException | VhostUserProtocolException expected) {
            // refused, with a message naming the peer
        }
    }
}
