package io.jvmm.emulator.vfiouser;

import io.jvmm.chardev.Fds;
import io.jvmm.chardev.NativeException;
import io.jvmm.chardev.ReceivedMessage;
import io.jvmm.chardev.UnixSocketChannel;
import io.jvmm.chardev.nativ.LinuxConstants;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import jnr.constants.platform.Errno;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Frames vfio-user messages on a connected socket: reads one header (collecting the fds that
 * travel with it), checks the announced size, reads the rest; sends a header, payload and fds in
 * one sendmsg. A bad size is reported as a {@link Frame.Malformed} frame rather than thrown, so the
 * session can answer it: a size below the header is answered at once, an oversized message is
 * read and dropped up to {@code drainLimit} bytes, beyond which the stream cannot be trusted and
 * the connection must end.
 *
 * <p>One thread reads; sends are serialised here (replies and server requests interleave).
 */
final class MessageChannel implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(MessageChannel.class);
    private static final int DRAIN_CHUNK = 64 * 1024;

    private final UnixSocketChannel channel;
    private final long maxMessageSize;
    private final long drainLimit;
    private final Object sendLock = new Object();

    /** What one read produced. */
    sealed interface Frame {
        /** A well-formed message (its fds are the caller's). */
        record Message(VfioUserMessage message) implements Frame {
        }

        /** A message that cannot be served; its fds are already closed. */
        record Malformed(VfioUserHeader header, int errno, String reason, boolean fatal) implements Frame {
        }

        /** The peer closed the connection (cleanly between messages, or not). */
        record EndOfStream(String detail) implements Frame {
        }
    }

    MessageChannel(UnixSocketChannel channel, long maxMessageSize, long drainLimit) {
        this.channel = channel;
        this.maxMessageSize = maxMessageSize;
        this.drainLimit = drainLimit;
    }

    /** Reads the next frame (blocking). */
    Frame read() {
        List<Integer> fds = new ArrayList<>();
        try {
            ByteBuffer headerBytes = ByteBuffer.allocate(VfioUserHeader.SIZE).order(ByteOrder.LITTLE_ENDIAN);
            if (!readFully(headerBytes, fds)) {
                closeAll(fds);
                return new Frame.EndOfStream(headerBytes.position() == 0 ? "peer closed the connection"
                        : "peer closed the connection after " + headerBytes.position() + " bytes of a header");
            }
            headerBytes.flip();
            VfioUserHeader header = VfioUserHeader.decode(headerBytes);
            if (header.size() < VfioUserHeader.SIZE) {
                closeAll(fds);
                return new Frame.Malformed(header, Errno.EINVAL.intValue(), "message size " + header.size()
                        + " is smaller than the " + VfioUserHeader.SIZE + "-byte header", false);
            }
            if (header.size() > maxMessageSize) {
                closeAll(fds);
                String reason = "message size " + header.size() + " exceeds the " + maxMessageSize + "-byte limit";
                if (header.payloadSize() > drainLimit) {
                    return new Frame.Malformed(header, Errno.E2BIG.intValue(), reason
                            + " and is too large to skip: the stream cannot be resynchronised", true);
                }
                if (!drain(header.payloadSize(), fds)) {
                    closeAll(fds);
                    return new Frame.EndOfStream("peer closed the connection inside an oversized message");
                }
                closeAll(fds);
                return new Frame.Malformed(header, Errno.E2BIG.intValue(), reason + " (skipped)", false);
            }
            ByteBuffer payload = ByteBuffer.allocate((int) header.payloadSize()).order(ByteOrder.LITTLE_ENDIAN);
            if (!readFully(payload, fds)) {
                closeAll(fds);
                return new Frame.EndOfStream("peer closed the connection after " + payload.position() + " of "
                        + payload.capacity() + " payload bytes of " + header);
            }
            payload.flip();
            return new Frame.Message(new VfioUserMessage(header, payload, new ReceivedFds(toArray(fds))));
        } catch (RuntimeException e) {
            closeAll(fds);
            throw e;
        }
    }

    /** Receives until dst is full; false on end of stream. Every fd that arrives goes to fds. */
    private boolean readFully(ByteBuffer dst, List<Integer> fds) {
        while (dst.hasRemaining()) {
            ReceivedMessage m = channel.receive(dst, LinuxConstants.SCM_MAX_FD);
            for (int fd : m.fds()) {
                fds.add(fd);
            }
            if (m.eof()) {
                return false;
            }
        }
        return true;
    }

    private boolean drain(long bytes, List<Integer> fds) {
        ByteBuffer chunk = ByteBuffer.allocate((int) Math.min(DRAIN_CHUNK, Math.max(1, bytes)));
        long left = bytes;
        while (left > 0) {
            chunk.clear().limit((int) Math.min(chunk.capacity(), left));
            if (!readFully(chunk, fds)) {
                return false;
            }
            left -= chunk.limit();
        }
        return true;
    }

    /** Sends one message: header (its size must be 16 + payload), payload and fds in one go. */
    void send(VfioUserHeader header, ByteBuffer payload, int... fds) {
        int length = payload == null ? 0 : payload.remaining();
        if (header.size() != VfioUserHeader.SIZE + length) {
            throw new IllegalArgumentException("header " + header + " does not match a payload of " + length + " bytes");
        }
        ByteBuffer out = ByteBuffer.allocate(VfioUserHeader.SIZE + length).order(ByteOrder.LITTLE_ENDIAN);
        header.encode(out);
        if (payload != null) {
            out.put(payload.duplicate());
        }
        out.flip();
        synchronized (sendLock) {
            channel.send(out, fds);
        }
    }

    /** Sends an error reply (header only) to the command {@code header}. */
    void sendError(VfioUserHeader header, int errno) {
        send(header.errorReply(errno), null);
    }

    /** Unblocks the reader (it sees end of stream) and closes the socket. */
    @Override
    public void close() {
        channel.close();
    }

    boolean isClosed() {
        return channel.isClosed();
    }

    @Override
    public String toString() {
        return channel.toString();
    }

    private static int[] toArray(List<Integer> fds) {
        int[] out = new int[fds.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = fds.get(i);
        }
        return out;
    }

    private static void closeAll(List<Integer> fds) {
        for (int fd : fds) {
            Fds.closeQuietly(fd);
        }
        if (!fds.isEmpty()) {
            log.debug("closed {} fds that came with a message that was not served", fds.size());
        }
        fds.clear();
    }

    /** A send that failed because the peer went away is not worth a stack trace. */
    static boolean isPeerGone(RuntimeException e) {
        return e instanceof NativeException ne
                && (ne.errno() == Errno.EPIPE.intValue() || ne.errno() == Errno.ECONNRESET.intValue());
    }
}
