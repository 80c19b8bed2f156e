package io.jvmm.virtio.vhost;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jvmm.chardev.EndOfStreamException;
import io.jvmm.chardev.EventFd;
import io.jvmm.chardev.OpenFiles;
import io.jvmm.chardev.UnixSocketChannel;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Messages with their fds cross a socket whole; a bad header is refused and its fds closed. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class ChannelTest {

    @Test
    void messageAndItsFdsArriveTogether() {
        UnixSocketChannel[] pair = UnixSocketChannel.pair();
        try (VhostUserChannel a = new VhostUserChannel(pair[0], "a"); VhostUserChannel b = new VhostUserChannel(pair[1], "b");
             EventFd call = EventFd.create()) {
            VhostUserMessage sent = VhostUserMessage.request(VhostUserRequest.SET_VRING_CALL, true, new VringFd(2, false).encode(), call.fd());
            a.send(sent);
            a.send(VhostUserMessage.request(VhostUserRequest.GET_FEATURES, false, null));
            VhostUserMessage got = b.receive();
            assertEquals(VhostUserRequest.SET_VRING_CALL, got.type());
            assertTrue(got.needsReply());
            assertArrayEquals(sent.payload(), got.payload());
            assertEquals(1, got.fds().length);
            try (EventFd received = EventFd.adopt(got.fds()[0])) {
                received.signal(3);
                assertEquals(3, call.consume(), "the received fd is the same eventfd");
            }
            VhostUserMessage second = b.receive();
            assertEquals(VhostUserRequest.GET_FEATURES, second.type());
            assertEquals(0, second.fds().length, "fds never leak into the next message");
        }
    }

    @Test
    void malformedHeaderIsRefusedAndItsFdsClosed() {
        UnixSocketChannel[] pair = UnixSocketChannel.pair();
        try (VhostUserChannel a = new VhostUserChannel(pair[0], "front-end"); VhostUserChannel b = new VhostUserChannel(pair[1], "back-end");
             EventFd stray = EventFd.create()) {
            OpenFiles.Identity strayFile = OpenFiles.identity(stray.fd());
            ByteBuffer bad = ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN).putInt(13).putInt(0x3).putInt(0).flip();
            a.sendRaw(bad, stray.fd());
            VhostUserProtocolException e = assertThrows(VhostUserProtocolException.class, b::receive);
            assertTrue(e.getMessage().contains("back-end: SET_VRING_CALL with protocol version 3"), e.getMessage());
            OpenFiles.assertOnlyOpenAs(strayFile, "the fd that came with the bad header was closed", stray.fd());
        }
    }

    @Test
    void peerClosingMidMessageIsEndOfStream() {
        UnixSocketChannel[] pair = UnixSocketChannel.pair();
        try (VhostUserChannel b = new VhostUserChannel(pair[1], "b")) {
            ByteBuffer half = ByteBuffer.allocate(12 + 4).order(ByteOrder.LITTLE_ENDIAN).putInt(2).putInt(1).putInt(8).putInt(7).flip();
            pair[0].send(half);
            pair[0].close();
            EndOfStreamException e = assertThrows(EndOfStreamException.class, b::receive);
            assertEquals(4, e.received());
            assertEquals(8, e.expected());
            assertFalse(b.isClosed());
        }
    }
}
