package io.jvmm.virtio.vhost;

import io.jvmm.chardev.EndOfStreamException;
import io.jvmm.chardev.Fds;
import io.jvmm.chardev.UnixSocketChannel;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * Message framing over a Unix socket: a whole message (header, payload and its fds) goes out in
 * one sendmsg, and comes in as a checked header followed by exactly the payload it announces,
 * so fds can never be attributed to the wrong message.
 *
 * <p>One thread may send while another receives. Senders serialise on this object; there must
 * be one receiver.
 */
public final class VhostUserChannel implements AutoCloseable {
    private final UnixSocketChannel socket;
    private final String peer;
    private final ByteBuffer sendBuffer = direct(VhostUserHeader.SIZE + VhostUserHeader.MAX_PAYLOAD);
    private final ByteBuffer receiveBuffer = direct(VhostUserHeader.SIZE + VhostUserHeader.MAX_PAYLOAD);

    /**
     * @param peer how errors name the other side, e.g. "vhost-user back-end of fs0 (/run/vfsd.sock)"
     */
    public VhostUserChannel(UnixSocketChannel socket, String peer) {
        this.socket = Objects.requireNonNull(socket, "socket");
        this.peer = Objects.requireNonNull(peer, "peer");
    }

    private static ByteBuffer direct(int size) {
        return ByteBuffer.allocateDirect(size).order(ByteOrder.LITTLE_ENDIAN);
    }

    public String peer() {
        return peer;
    }

    public UnixSocketChannel socket() {
        return socket;
    }

    /**
     * Sends m with its fds in one sendmsg (the fds stay owned by the caller).
     *
     * @throws io.jvmm.chardev.NativeException e.g. EPIPE when the peer has gone
     * @throws IllegalStateException if the socket was closed
     */
    public void send(VhostUserMessage m) {
        if (m.payload().length > VhostUserHeader.MAX_PAYLOAD) {
            throw new IllegalArgumentException(peer + ": " + m.name() + " payload of " + m.payload().length
                    + " bytes exceeds " + VhostUserHeader.MAX_PAYLOAD);
        }
        synchronized (sendBuffer) {
            sendBuffer.clear();
            m.header().encode(sendBuffer);
            sendBuffer.put(m.payload()).flip();
            socket.send(sendBuffer, m.fds());
        }
    }

    /**
     * Sends bytes as they are, with fds: for fault injection (malformed or short messages).
     */
    public void sendRaw(ByteBuffer bytes, int... fds) {
        synchronized (sendBuffer) {
            socket.send(bytes.duplicate(), fds);
        }
    }

    /**
     * Receives the next message: a header (checked), then its payload. The fds of the message
     * belong to the caller; on any failure the fds that arrived are closed.
     *
     * @throws EndOfStreamException when the peer closes (between messages: received() == 0)
     * @throws VhostUserProtocolException for a header that cannot be valid
     */
    public VhostUserMessage receive() {
        List<Integer> fds = new ArrayList<>();
        try {
            receiveBuffer.clear().limit(VhostUserHeader.SIZE);
            socket.receiveFully(receiveBuffer, fds);
            receiveBuffer.flip();
            VhostUserHeader h = VhostUserHeader.decode(receiveBuffer, peer);
            byte[] payload = new byte[h.size()];
            if (h.size() > 0) {
                receiveBuffer.clear().limit(h.size());
                socket.receiveFully(receiveBuffer, fds);
                receiveBuffer.flip().get(payload);
            }
            int[] received = new int[fds.size()];   // a loop, not a stream: this runs once per reply, before its waiter wakes
            for (int i = 0; i < received.length; i++) {
                received[i] = fds.get(i);
            }
            return new VhostUserMessage(h.request(), h.flags(), payload, received);
        } catch (RuntimeException e) {
            Fds.closeQuietly(fds);
            throw e;
        }
    }

    public boolean isClosed() {
        return socket.isClosed();
    }

    /** Closes the socket; a blocked {@link #receive()} sees end of stream. */
    @Override
    public void close() {
        socket.close();
    }

    @Override
    public String toString() {
        return peer;
    }
}
