package io.jvmm.devices.nbd;

import static io.jvmm.devices.nbd.NbdProtocol.*;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A byte-level NBD client for tests that send what a well-behaved client never would: every
 * read is bounded, so a server that stops answering fails the test instead of hanging it.
 */
final class RawNbdClient implements AutoCloseable {
    private final SocketChannel ch;
    private final ExecutorService reader = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "raw-nbd-reader");
        t.setDaemon(true);
        return t;
    });

    RawNbdClient(Path socket) throws IOException {
        ch = SocketChannel.open(StandardProtocolFamily.UNIX);
        ch.connect(UnixDomainSocketAddress.of(socket));
    }

    /** A reply to an option. */
    record OptionReply(int option, int type, byte[] data) {
        String text() {
            return new String(data, StandardCharsets.UTF_8);
        }
    }

    void send(ByteBuffer b) throws IOException {
        b.flip();
        while (b.hasRemaining()) {
            ch.write(b);
        }
    }

    /** Reads exactly n bytes, or returns null at end of stream; fails after 10 s. */
    ByteBuffer read(int n) throws Exception {
        CompletableFuture<ByteBuffer> f = CompletableFuture.supplyAsync(() -> {
            ByteBuffer b = ByteBuffer.allocate(n);
            try {
                while (b.hasRemaining()) {
                    if (ch.read(b) < 0) {
                        return null;
                    }
                }
            } catch (IOException e) {
                return null;
            }
            return b.flip();
        }, reader);
        try {
            return f.get(10, TimeUnit.SECONDS);
        } catch (TimeoutException e) {
            throw new AssertionError("the server sent nothing within 10 s (a stuck connection)");
        }
    }

    /** True when the server closed the connection (within 10 s). */
    boolean closedByServer() throws Exception {
        return read(1) == null;
    }

    /** Reads the greeting and sends the client flags. */
    RawNbdClient handshake(int clientFlags) throws Exception {
        ByteBuffer g = read(18);
        if (g.getLong(0) != NBDMAGIC || g.getLong(8) != IHAVEOPT) {
            throw new AssertionError("not an NBD greeting");
        }
        send(ByteBuffer.allocate(4).putInt(clientFlags));
        return this;
    }

    void option(int option, byte[] data) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(16 + data.length);
        b.putLong(IHAVEOPT).putInt(option).putInt(data.length).put(data);
        send(b);
    }

    OptionReply optionReply() throws Exception {
        ByteBuffer h = read(20);
        if (h == null) {
            return null;
        }
        if (h.getLong(0) != OPTION_REPLY_MAGIC) {
            throw new AssertionError("bad option reply magic");
        }
        int len = h.getInt(16);
        ByteBuffer d = len == 0 ? ByteBuffer.allocate(0) : read(len);
        return new OptionReply(h.getInt(8), h.getInt(12), d.array());
    }

    static byte[] goData(String export) {
        byte[] n = export.getBytes(StandardCharsets.UTF_8);
        return ByteBuffer.allocate(4 + n.length + 2).putInt(n.length).put(n).putShort((short) 0).array();
    }

    static byte[] metaData(String export, String... queries) {
        byte[] n = export.getBytes(StandardCharsets.UTF_8);
        int len = 4 + n.length + 4;
        for (String q : queries) {
            len += 4 + q.length();
        }
        ByteBuffer b = ByteBuffer.allocate(len).putInt(n.length).put(n).putInt(queries.length);
        for (String q : queries) {
            b.putInt(q.length()).put(q.getBytes(StandardCharsets.US_ASCII));
        }
        return b.array();
    }

    /** GO to {@code export}; reads the replies up to ACK; returns the transmission flags. */
    int go(String export) throws Exception {
        option(OPT_GO, goData(export));
        int flags = -1;
        while (true) {
            OptionReply r = optionReply();
            if (r.type == REP_INFO && ByteBuffer.wrap(r.data).getShort(0) == INFO_EXPORT) {
                flags = ByteBuffer.wrap(r.data).getShort(10) & 0xffff;
            } else if (r.type == REP_ACK) {
                return flags;
            } else if (r.type < 0) {
                throw new AssertionError("GO refused: " + Integer.toHexString(r.type) + " " + r.text());
            }
        }
    }

    void request(int flags, int type, long cookie, long offset, long length, byte[] payload) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(REQUEST_SIZE + (payload == null ? 0 : payload.length));
        b.putInt(REQUEST_MAGIC).putShort((short) flags).putShort((short) type).putLong(cookie).putLong(offset).putInt((int) length);
        if (payload != null) {
            b.put(payload);
        }
        send(b);
    }

    /** A simple reply: {error, cookie}. */
    long[] simpleReply() throws Exception {
        ByteBuffer h = read(SIMPLE_REPLY_SIZE);
        if (h == null) {
            return null;
        }
        if (h.getInt(0) != SIMPLE_REPLY_MAGIC) {
            throw new AssertionError("expected a simple reply, got magic 0x" + Integer.toHexString(h.getInt(0)));
        }
        return new long[] {h.getInt(4), h.getLong(8)};
    }

    @Override
    public void close() throws IOException {
        reader.shutdownNow();
        ch.close();
    }
}
