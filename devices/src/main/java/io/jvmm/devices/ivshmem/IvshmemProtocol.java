package io.jvmm.devices.ivshmem;

import io.jvmm.chardev.Fds;
import io.jvmm.chardev.ReceivedMessage;
import io.jvmm.chardev.UnixSocketChannel;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/**
 * QEMU's ivshmem client-server protocol (docs/specs/ivshmem-spec.rst): one way, server to client;
 * each message is one 8-byte little-endian signed number, optionally with one fd (SCM_RIGHTS).
 * On connect: the version (0), the client's id, -1 with the shared memory's fd; then peers'
 * eventfds (their id, once per vector, each with an fd), then the client's own (its id, once per
 * vector, each with an fd); later a peer id with an fd is a join, without one a leave.
 */
public final class IvshmemProtocol {
    public static final long VERSION = 0;
    /** The message carrying the shared memory's fd. */
    public static final long SHARED_MEMORY = -1;
    /** Ids fit the Doorbell register's 16 bits. */
    public static final int MAX_ID = 0xffff;
    public static final int MESSAGE_BYTES = 8;

    private IvshmemProtocol() {
    }

    /**
     * One message: {@code value} and the fd that came with it, or -1. {@code extraFds} counts fds
     * beyond the first that came with it (already closed: a message carries at most one).
     */
    public record Message(long value, int fd, int extraFds) {
        public boolean hasFd() {
            return fd >= 0;
        }

        @Override
        public String toString() {
            return value + (fd >= 0 ? " with fd " + fd : " without fd") + (extraFds > 0 ? " (+" + extraFds + " fds)" : "");
        }
    }

    /** Sends one message (the fd, if not negative, travels with it; the caller keeps its own). */
    public static void send(UnixSocketChannel channel, long value, int fd) {
        ByteBuffer b = ByteBuffer.allocate(MESSAGE_BYTES).order(ByteOrder.LITTLE_ENDIAN).putLong(0, value);
        if (fd >= 0) {
            channel.send(b, fd);
        } else {
            channel.send(b);
        }
    }

    /**
     * Reassembles messages from a stream that may deliver them in pieces. Not thread-safe: one
     * reader per connection.
     */
    public static final class Reader {
        private final UnixSocketChannel channel;
        private final ByteBuffer buffer = ByteBuffer.allocateDirect(MESSAGE_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        private final List<Integer> fds = new ArrayList<>();

        public Reader(UnixSocketChannel channel) {
            this.channel = channel;
        }

        /**
         * One receive: the message it completed, or null if only part of one has arrived so far.
         *
         * @throws ServerClosedException at end of stream (saying how much of a message had arrived)
         */
        public Message readSome() {
            ReceivedMessage m = channel.receive(buffer, UnixSocketChannel.MAX_FDS);
            for (int fd : m.fds()) {
                fds.add(fd);
            }
            if (m.eof()) {
                int partial = buffer.position();
                discard();
                throw new ServerClosedException(partial);
            }
            if (buffer.hasRemaining()) {
                return null;
            }
            long value = buffer.getLong(0);
            buffer.clear();
            int fd = fds.isEmpty() ? -1 : fds.get(0);
            int extra = Math.max(0, fds.size() - 1);
            for (int i = 1; i < fds.size(); i++) {
                Fds.closeQuietly(fds.get(i));
            }
            fds.clear();
            return new Message(value, fd, extra);
        }

        /** Bytes of an incomplete message received so far. */
        public int partialBytes() {
            return buffer.position();
        }

        /** Closes the fds of an incomplete message. */
        public void discard() {
            Fds.closeQuietly(fds);
            fds.clear();
            buffer.clear();
        }
    }

    /** The server closed the connection; {@link #partialBytes} of a message had arrived. */
    public static final class ServerClosedException extends RuntimeException {
        private static final long serialVersionUID = 1L;
        private final int partialBytes;

        ServerClosedException(int partialBytes) {
            super(partialBytes == 0 ? "closed the connection"
                    : "closed the connection in the middle of a message (" + partialBytes + " of " + MESSAGE_BYTES + " bytes)");
            this.partialBytes = partialBytes;
        }

        public int partialBytes() {
            return partialBytes;
        }
    }
}
