package io.jvmm.devices.p9.server;

import io.jvmm.testkit.driver.p9.P9Wire;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static java.net.StandardProtocolFamily.UNIX;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Closing a 9P socket server ends every client's connection at once: a client (a virtio-9p device
 * forwarding to it) learns that the server is gone from the end of its stream, and fails what it
 * had in flight. Seen broken: the loop's shutdown left about one accepted socket in five open, its
 * client waiting for ever.
 */
class P9SocketServerCloseTest {
    private static final int CLIENTS = 4;
    private static final int ROUNDS = 8;

    @TempDir
    Path dir;

    @Test
    void closeEndsEveryClientsConnectionEvenWithRequestsHeld() throws Exception {
        Path export = Files.createDirectory(dir.resolve("export"));
        Files.writeString(export.resolve("f"), "held");
        for (int round = 0; round < ROUNDS; round++) {
            serveAndClose(export, dir.resolve("9p-" + round + ".sock"), round);
        }
    }

    private void serveAndClose(Path export, Path socket, int round) throws Exception {
        P9ServerConfig config = P9ServerConfig.of(export, false, SecurityModel.PASSTHROUGH).withDelay(Duration.ofSeconds(60));
        P9Server server = new P9Server("close-test", config, P9ServerMetrics.unregistered("close-test"));
        P9SocketServer sockets = P9SocketServer.unix(server, socket);
        List<SocketChannel> clients = new ArrayList<>();
        ExecutorService readers = Executors.newFixedThreadPool(CLIENTS);
        try {
            for (int i = 0; i < CLIENTS; i++) {
                SocketChannel c = SocketChannel.open(UNIX);
                clients.add(c);
                c.connect(UnixDomainSocketAddress.of(socket));
                rpc(c, P9Wire.version(65536, "9P2000.L"));
                rpc(c, P9Wire.attach(0, 0));
                rpc(c, P9Wire.walk(0, 1, "f"));
                rpc(c, P9Wire.lopen(1, P9Wire.O_RDONLY));
                c.write(ByteBuffer.wrap(tagged(P9Wire.read(1, 0, 4), 5)));     // held by the slowed server
                rpc(c, tagged(P9Wire.flush(5), 6));                              // Rflush: tag 5 is gone
                c.write(ByteBuffer.wrap(tagged(P9Wire.read(1, 0, 4), 7)));     // held
                c.write(ByteBuffer.wrap(tagged(P9Wire.read(1, 0, 4), 8)));     // held
            }
            io.jvmm.chardev.Await.until(() -> server.outstandingTags() == 2 * CLIENTS, "every client's read held by the server");
            List<Future<Integer>> ends = new ArrayList<>();
            for (SocketChannel c : clients) {
                ends.add(readers.submit(() -> bytesUntilTheEnd(c)));
            }
            sockets.close();
            server.close();
            for (int i = 0; i < CLIENTS; i++) {
                // The held Rread never comes: only the end of the stream.
                assertEquals(0, ends.get(i).get(10, TimeUnit.SECONDS), "round " + round + ", client " + i + " saw the end of its stream");
            }
        } finally {
            readers.shutdownNow();
            for (SocketChannel c : clients) {
                c.close();
            }
            sockets.close();
            server.close();
        }
    }

    private static byte[] tagged(byte[] message, int tag) {
        message[5] = (byte) tag;
        message[6] = (byte) (tag >>> 8);
        return message;
    }

    /** Sends a message and reads its whole reply (the server answers it at once). */
    private static void rpc(SocketChannel c, byte[] message) throws Exception {
        c.write(ByteBuffer.wrap(message));
        ByteBuffer size = ByteBuffer.allocate(4).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        readFully(c, size);
        readFully(c, ByteBuffer.allocate(size.getInt(0) - 4));
    }

    private static void readFully(SocketChannel c, ByteBuffer b) throws Exception {
        while (b.hasRemaining()) {
            if (c.read(b) < 0) {
                throw new java.io.EOFException("the server ended the connection");
            }
        }
    }

    private static int bytesUntilTheEnd(SocketChannel c) throws Exception {
        ByteBuffer b = ByteBuffer.allocate(4096);
        int total = 0;
        for (int n; (n = c.read(b)) >= 0; ) {
            total += n;
            b.clear();
        }
        return total;
    }
}
