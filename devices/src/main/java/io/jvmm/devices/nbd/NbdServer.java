package io.jvmm.devices.nbd;

import io.jvmm.devices.blk.loop.NettyLoop;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.util.concurrent.GlobalEventExecutor;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An NBD server (fixed newstyle negotiation) on Netty. The listener runs on its own event loop
 * ({@code nbd-listener-<id>}) and the connections on {@code nbd-io-<id>} (two loops), so a synchronous wait on
 * any other loop (the main loop opening a qcow2 whose backing file is one of our exports) never
 * starves them (rule 5). The experiment switch {@link Listener#MAIN_LOOP} binds the listener to the
 * main loop instead, QEMU's historic wiring, under which such an open deadlocks.
 *
 * <p>Exports can be added and removed while it runs. Unix sockets are created owner-only (0600).
 */
public final class NbdServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(NbdServer.class);
    /** Threads of a server's connection loops (connections are spread over them). */
    static final int IO_THREADS = 2;
    /** Servers listening in this process, by address (what a client that waits on one is told). */
    private static final Map<String, NbdServer> LISTENING = new ConcurrentHashMap<>();

    /** Where the listener runs. */
    public enum Listener {
        /** Its own loop (the default). */
        OWN_LOOP("own-loop"),
        /** x-nbd-listener=main-loop: the main loop, on which image opens block (QEMU's historic wiring). */
        MAIN_LOOP("main-loop");

        private final String text;

        Listener(String text) {
            this.text = text;
        }

        public String text() {
            return text;
        }

        public static Listener parse(String where, String text) {
            for (Listener l : values()) {
                if (l.text.equals(text)) {
                    return l;
                }
            }
            throw new IllegalArgumentException(where + ": x-nbd-listener=" + text + " is not allowed (own-loop or main-loop)");
        }
    }

    private final String id;
    private final NbdAddress requested;
    private final NettyLoop.Lease listenerLoop;
    private final io.netty.channel.MultiThreadIoEventLoopGroup ioLoops;
    private final int maxConnections;
    private final Map<String, NbdExport> exports = new ConcurrentHashMap<>();
    /** Open connections (a closed channel leaves the group by itself). */
    private final ChannelGroup connections = new DefaultChannelGroup("nbd-clients", GlobalEventExecutor.INSTANCE);
    /** Connections in transmission, by export name (the lock also orders removals with attaches). */
    private final Map<String, Set<Channel>> users = new java.util.HashMap<>();
    private final AtomicInteger accepted = new AtomicInteger();
    private final NbdServerMetrics metrics;
    private final Channel listener;
    private final NbdAddress bound;
    private volatile boolean closed;

    private NbdServer(String id, NbdAddress address, Listener placement, int maxConnections, NbdServerMetrics metrics) {
        this.id = id;
        this.requested = address;
        this.maxConnections = maxConnections;
        this.metrics = metrics;
        this.listenerLoop = placement == Listener.MAIN_LOOP ? NettyLoop.main() : NettyLoop.acquire("nbd-listener-" + id);
        this.ioLoops = new io.netty.channel.MultiThreadIoEventLoopGroup(IO_THREADS,
                new io.netty.util.concurrent.DefaultThreadFactory("nbd-io-" + id, true), io.netty.channel.epoll.EpollIoHandler.newFactory());
        Channel ch = null;
        try {
            if (listenerLoop.loop().inLoop()) {
                throw new IllegalStateException("an NBD server cannot be started from its own listener loop");
            }
            if (address.isUnix()) {
                Files.deleteIfExists(address.unixPath());
            }
            ServerBootstrap b = new ServerBootstrap()
                    .group(listenerLoop.loop().eventLoop(), ioLoops)
                    .channel(address.isUnix() ? EpollServerDomainSocketChannel.class : EpollServerSocketChannel.class)
                    .childHandler(new ChannelInitializer<Channel>() {
                        @Override
                        protected void initChannel(Channel c) {
                            accept(c);
                        }
                    });
            if (!address.isUnix()) {
                b.option(ChannelOption.SO_REUSEADDR, true);
            }
            ch = b.bind(address.socketAddress()).syncUninterruptibly().channel();
            if (address.isUnix()) {
                Files.setPosixFilePermissions(address.unixPath(), PosixFilePermissions.fromString("rw-------"));
                this.bound = address;
            } else {
                InetSocketAddress a = (InetSocketAddress) ch.localAddress();
                this.bound = NbdAddress.tcp(address.host(), a.getPort());
            }
            this.listener = ch;
        } catch (IOException | RuntimeException e) {
            if (ch != null) {
                ch.close().awaitUninterruptibly(5, TimeUnit.SECONDS);
            }
            ioLoops.shutdownGracefully(0, 2, TimeUnit.SECONDS).awaitUninterruptibly(10, TimeUnit.SECONDS);
            listenerLoop.close();
            throw new IllegalArgumentException("NBD server '" + id + "' cannot listen on " + address + ": " + e.getMessage(), e);
        }
        LISTENING.put(bound.toString(), this);
        log.info("NBD server '{}' listening on {} (listener on loop {}, connections on {})", id, bound,
                listenerLoop.loop().name(), "nbd-io-" + id);
    }

    /**
     * Starts listening.
     *
     * @throws IllegalArgumentException naming the server and the address when it cannot listen
     */
    public static NbdServer start(String id, NbdAddress address, Listener placement, int maxConnections) {
        return new NbdServer(id, address, placement, maxConnections, new NbdServerMetrics(id));
    }

    public static NbdServer start(NbdAddress address) {
        return start("nbd", address, Listener.OWN_LOOP, 100);
    }

    /** The address it listens on (a TCP port 0 resolved to the port the kernel chose). */
    public NbdAddress address() {
        return bound;
    }

    public String id() {
        return id;
    }

    /** The loop the listener runs on. */
    public NettyLoop listenerLoop() {
        return listenerLoop.loop();
    }

    public NbdServerMetrics metrics() {
        return metrics;
    }

    /**
     * A description of the server of this process listening on {@code address}, if any ("NBD
     * listener 'nbd0' on loop main-loop"), for the reports of waits that depend on it.
     */
    public static String describeListenerAt(NbdAddress address) {
        NbdServer s = LISTENING.get(address.toString());
        return s == null ? null : "NBD listener '" + s.id + "' on loop " + s.listenerLoop.loop().name();
    }

    public void addExport(NbdExport export) {
        NbdExport before;
        synchronized (users) {
            before = exports.putIfAbsent(export.name(), export);
        }
        if (before != null) {
            throw new IllegalArgumentException("NBD server '" + id + "' already has an export named '" + export.name() + "'");
        }
        log.info("NBD server '{}': exporting {} as '{}'{}", id, export.backend().describe(), export.name(),
                export.writable() ? "" : " (read-only)");
    }

    /** Removes export {@code name}, disconnecting its clients; null if there is none. */
    public NbdExport removeExport(String name) {
        return removeExport(name, true);
    }

    /**
     * Removes export {@code name}; null if there is none. With {@code disconnect} its clients
     * (connections in transmission on it) are closed, and this returns once they are; without,
     * an export with clients is left in place.
     *
     * @throws IllegalStateException if it has clients and {@code disconnect} is false
     */
    public NbdExport removeExport(String name, boolean disconnect) {
        NbdExport e;
        List<Channel> clients;
        synchronized (users) {
            e = exports.get(name);
            if (e == null) {
                return null;
            }
            clients = List.copyOf(users.getOrDefault(name, Set.of()));
            if (!clients.isEmpty() && !disconnect) {
                throw new IllegalStateException("export '" + name + "' has " + clients.size() + " client(s)");
            }
            exports.remove(name);
            users.remove(name);
        }
        for (Channel c : clients) {
            c.close().awaitUninterruptibly(5, TimeUnit.SECONDS);
        }
        log.info("NBD server '{}': export '{}' removed{}", id, name, clients.isEmpty() ? "" : " (" + clients.size() + " client(s) disconnected)");
        return e;
    }

    /** Connections in transmission on export {@code name}. */
    public int clientsOf(String name) {
        synchronized (users) {
            return users.getOrDefault(name, Set.of()).size();
        }
    }

    /**
     * A session entering transmission on {@code e}: counted as its client, unless {@code e} was
     * removed meanwhile (false: the session answers as for an unknown export).
     */
    boolean attach(NbdExport e, Channel c) {
        synchronized (users) {
            if (exports.get(e.name()) != e) {
                return false;
            }
            users.computeIfAbsent(e.name(), k -> new java.util.HashSet<>()).add(c);
        }
        c.closeFuture().addListener(f -> {
            synchronized (users) {
                Set<Channel> set = users.get(e.name());
                if (set != null) {
                    set.remove(c);
                }
            }
        });
        return true;
    }

    NbdExport export(String name) {
        return exports.get(name);
    }

    /** Exports in the order added is not kept; a stable order for NBD_OPT_LIST. */
    List<NbdExport> sortedExports() {
        List<NbdExport> l = new ArrayList<>(exports.values());
        l.sort((a, b) -> a.name().compareTo(b.name()));
        return l;
    }

    private void accept(Channel c) {
        if (closed || connections.size() >= maxConnections) {
            log.warn("NBD server '{}': refusing a connection from {}: {}", id, c.remoteAddress(),
                    closed ? "the server is closing" : "max-connections=" + maxConnections + " reached");
            c.close();
            return;
        }
        connections.add(c);
        int n = accepted.incrementAndGet();
        c.pipeline().addLast(new NbdServerSession(this, id + "#" + n));
        metrics.connectionOpened();
    }

    /** Connections open now. */
    public int connectionCount() {
        return connections.size();
    }

    /** Stops listening and closes every connection; the exports' back-ends stay open (their owners close them). */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        LISTENING.remove(bound.toString(), this);
        listener.close().awaitUninterruptibly(5, TimeUnit.SECONDS);
        if (!connections.close().awaitUninterruptibly(5, TimeUnit.SECONDS)) {
            log.warn("NBD server '{}': connections did not all close within 5 s", id);
        }
        if (bound.isUnix()) {
            try {
                Files.deleteIfExists(bound.unixPath());
            } catch (IOException e) {
                log.debug("removing {}: {}", bound.unixPath(), e.toString());
            }
        }
        ioLoops.shutdownGracefully(0, 2, TimeUnit.SECONDS).awaitUninterruptibly(10, TimeUnit.SECONDS);
        listenerLoop.close();
        log.info("NBD server '{}' on {} stopped", id, bound);
    }

    @Override
    public String toString() {
        return "NBD server '" + id + "' on " + bound;
    }
}
