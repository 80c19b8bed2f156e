package io.jvmm.devices.nbd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import com.code_intelligence.jazzer.junit.FuzzTest;
import org.junit.jupiter.api.AfterAll;
import io.jvmm.devices.blk.BlockBackend;
import io.jvmm.devices.blk.RawFileBackend;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Fuzz target for the NBD server's option and command parsing: a client that connects to a real
 * {@link NbdServer} (one writable and one read-only export of 1 MiB each) and sends arbitrary bytes,
 * in up to three writes, then ends its side. The server must answer what it answers and close the
 * connection within a bound (no hang: a negotiation left unfinished or a request left half sent
 * ends with the client's end of stream), and nothing may fail with an internal error of ours (a
 * Java runtime exception in the session, counted by {@link NbdServerMetrics#internalErrors()}): bad
 * input gets the protocol's answer or a closed connection. Regression inputs in
 * {@code NbdServerFuzzTestInputs/client/} (real negotiations and requests, and broken ones).
 */
class NbdServerFuzzTest {
    private static final long BOUND_NANOS = 10_000_000_000L;
    private static final Path DIR;
    private static final Path SOCKET;
    private static final NbdServer SERVER;
    private static final BlockBackend[] BACKENDS;

    static {
        try {
            DIR = Files.createTempDirectory("nbd-server-fuzz");
            SOCKET = DIR.resolve("nbd.sock");
            Path disk = DIR.resolve("disk.img");
            Path ro = DIR.resolve("ro.img");
            Files.write(disk, new byte[1 << 20]);
            Files.write(ro, new byte[1 << 20]);
            SERVER = NbdServer.start(NbdAddress.unix(SOCKET));
            BlockBackend rw = new RawFileBackend("nbd-fuzz", disk, false, 2);
            BlockBackend r = new RawFileBackend("nbd-fuzz-ro", ro, true, 2);
            SERVER.addExport(new NbdExport("disk", "fuzzed", rw, true, true));
            SERVER.addExport(new NbdExport("", null, r, false, false));
            BACKENDS = new BlockBackend[] {rw, r};
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @AfterAll
    static void stop() {
        SERVER.close();
        for (BlockBackend b : BACKENDS) {
            b.close();
        }
    }

    @FuzzTest(maxDuration = "30s")
    void client(byte[] input) throws Exception {
        long internal = SERVER.metrics().internalErrors();
        try (SocketChannel c = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            c.connect(UnixDomainSocketAddress.of(SOCKET));
            c.configureBlocking(false);
            try (Selector selector = Selector.open()) {
                c.register(selector, SelectionKey.OP_READ | SelectionKey.OP_WRITE);
                int cut1 = input.length / 3;
                int cut2 = 2 * input.length / 3;
                ByteBuffer[] parts = {ByteBuffer.wrap(input, 0, cut1), ByteBuffer.wrap(input, cut1, cut2 - cut1),
                        ByteBuffer.wrap(input, cut2, input.length - cut2)};
                int part = 0;
                boolean outputShut = false;
                ByteBuffer sink = ByteBuffer.allocate(1 << 16);
                long deadline = System.nanoTime() + BOUND_NANOS;
                while (true) {
                    long left = deadline - System.nanoTime();
                    if (left <= 0) {
                        fail("the server neither answered nor closed the connection within 10 s (sent "
                                + (outputShut ? "everything" : "part " + part) + ")");
                    }
                    selector.select(Math.max(1, left / 1_000_000));
                    SelectionKey k = c.keyFor(selector);
                    if (k.isReadable()) {
                        sink.clear();
                        int n;
                        try {
                            n = c.read(sink);
                        } catch (IOException reset) {
                            break;   // the server closed on us
                        }
                        if (n < 0) {
                            break;
                        }
                    }
                    if (!outputShut && k.isWritable()) {
                        try {
                            while (part < parts.length && !parts[part].hasRemaining()) {
                                part++;
                            }
                            if (part < parts.length) {
                                c.write(parts[part]);
                            } else {
                                c.shutdownOutput();
                                outputShut = true;
                                k.interestOps(SelectionKey.OP_READ);
                            }
                        } catch (IOException closed) {
                            outputShut = true;   // the server closed first (bad magic, say)
                            k.interestOps(SelectionKey.OP_READ);
                        }
                    }
                }
            }
        }
        long deadline = System.nanoTime() + BOUND_NANOS;
        while (SERVER.connectionCount() > 0) {
            if (System.nanoTime() > deadline) {
                fail("the server kept the connection for 10 s after the client left");
            }
            Thread.yield();
        }
        assertEquals(internal, SERVER.metrics().internalErrors(), "the session failed with an internal error (see the log)");
    }
}
