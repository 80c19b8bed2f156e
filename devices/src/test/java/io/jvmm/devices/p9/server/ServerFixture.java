package io.jvmm.devices.p9.server;

import io.jvmm.testkit.driver.p9.P9Client;
import io.jvmm.testkit.driver.p9.SocketP9Transport;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/** A 9P server on a Unix socket in a temporary directory, and clients of it; closes all it made. */
final class ServerFixture implements AutoCloseable {
    final P9Server server;
    final P9SocketServer sockets;
    final Path socket;
    private final List<P9Client> clients = new ArrayList<>();

    ServerFixture(P9ServerConfig config, Path socketDir) throws Exception {
        server = new P9Server("test", config, P9ServerMetrics.unregistered("test"));
        socket = socketDir.resolve("9p.sock");
        try {
            sockets = P9SocketServer.unix(server, socket);
        } catch (Exception e) {
            server.close();
            throw e;
        }
    }

    /** A client after Tversion (msize 64 KiB unless asked) and Tattach of fid 0. */
    P9Client client() {
        return client(65536);
    }

    P9Client client(int msize) {
        P9Client c = new P9Client(SocketP9Transport.unix(socket), Duration.ofSeconds(30));
        clients.add(c);
        c.version(msize);
        c.attach(0, 0);
        return c;
    }

    @Override
    public void close() {
        for (P9Client c : clients) {
            c.close();
        }
        sockets.close();
        server.close();
    }
}
