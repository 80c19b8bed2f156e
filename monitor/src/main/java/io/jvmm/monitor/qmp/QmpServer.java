package io.jvmm.monitor.qmp;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.jvmm.monitor.MachineEvent;
import io.jvmm.monitor.MonitoredMachine;
import io.jvmm.platform.options.UserError;
import io.jvmm.platform.registry.Registry;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Instant;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A QMP server for one machine (QEMU's protocol: docs/interop/qmp-spec.rst): a Unix socket
 * (owner-only) or a loopback TCP port, several clients at once, each greeted and negotiating on
 * its own. Sockets are Netty's (epoll); each connection's bytes are framed by a
 * {@link JsonSplitter} with a size and depth limit, and commands from every client run one at a
 * time on one dispatch thread (as QEMU runs them under its main lock), in each client's order.
 * Events go to every client that has negotiated.
 *
 * <p>Bounds: a client has at most {@value #MAX_QUEUED} commands waiting (its socket is not read
 * meanwhile); a client that leaves more than {@value #MAX_UNREAD} bytes of replies and events
 * unread is disconnected; at most {@value #MAX_CLIENTS} clients at once.
 */
public final class QmpServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(QmpServer.class);
    static final int MAX_QUEUED = 8;
    static final int MAX_UNREAD = 16 << 20;
    static final int MAX_CLIENTS = 64;
    private static final int READ_CHUNK = 16 << 10;

    private final MonitoredMachine machine;
    private final QmpEndpoint endpoint;
    private final EventLoopGroup group;
    private final ExecutorService dispatch;
    private final AtomicInteger dispatchThreads = new AtomicInteger();
    private volatile Thread dispatchThread;
    private final QmpDispatcher dispatcher;
    private final int maxMessage;
    private final Set<ClientSession> sessions = ConcurrentHashMap.newKeySet();
    private final AtomicInteger accepted = new AtomicInteger();
    private final AtomicBoolean closed = new AtomicBoolean();
    private final Consumer<MachineEvent> listener = this::broadcast;
    private Channel serverChannel;

    private QmpServer(MonitoredMachine machine, QmpEndpoint endpoint, Registry registry, int maxMessage) {
        this.machine = machine;
        this.endpoint = endpoint;
        this.maxMessage = maxMessage;
        this.group = new MultiThreadIoEventLoopGroup(1, new DefaultThreadFactory("qmp-io", true), EpollIoHandler.newFactory());
        this.dispatch = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "qmp-dispatch-" + dispatchThreads.incrementAndGet());
            t.setDaemon(true);
            dispatchThread = t;
            return t;
        });
        this.dispatcher = new QmpDispatcher(CommandTable.create(new QmpContext(machine, registry, () -> endpoint().filename())));
    }

    /** Parses QEMU's {@code -qmp} value and starts serving {@code machine}. */
    public static QmpServer start(String spec, MonitoredMachine machine) {
        return start(QmpEndpoint.parse(spec), machine, Registry.load(), JsonSplitter.DEFAULT_MAX_MESSAGE);
    }

    /**
     * Listens on {@code endpoint} and serves {@code machine}; device types for {@code device_add}
     * are looked up in {@code registry}; a message over {@code maxMessage} bytes is refused.
     *
     * @throws UserError if the endpoint cannot be listened on (named, with the reason)
     */
    public static QmpServer start(QmpEndpoint endpoint, MonitoredMachine machine, Registry registry, int maxMessage) {
        if (!Epoll.isAvailable()) {
            throw new IllegalStateException("QMP needs Netty's native epoll transport, which did not load: " + Epoll.unavailabilityCause());
        }
        QmpServer server = new QmpServer(machine, endpoint, registry, maxMessage);
        try {
            server.listen();
        } catch (RuntimeException e) {
            server.close();
            throw e;
        }
        machine.events().addListener(server.listener);
        log.info("{} machine: QMP on {}", machine.kind(), server.endpoint().filename());
        return server;
    }

    private void listen() {
        ServerBootstrap b = new ServerBootstrap().group(group)
                .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK, new WriteBufferWaterMark(MAX_UNREAD / 2, MAX_UNREAD))
                .childHandler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast(new ClientSession());
                    }
                });
        if (endpoint instanceof QmpEndpoint.Unix unix) {
            b.channel(EpollServerDomainSocketChannel.class);
            serverChannel = bindOwnerOnly(b, unix.path());
        } else {
            QmpEndpoint.Tcp tcp = (QmpEndpoint.Tcp) endpoint;
            b.channel(EpollServerSocketChannel.class).option(ChannelOption.SO_REUSEADDR, true);
            ChannelFuture f = b.bind(new InetSocketAddress(tcp.host(), tcp.port())).awaitUninterruptibly();
            if (!f.isSuccess()) {
                throw new UserError("-qmp " + endpoint.filename() + ": cannot listen: " + f.cause().getMessage());
            }
            serverChannel = f.channel();
        }
    }

    /**
     * Binds a Unix socket that is owner-only from the start: bound in a new 0700 directory beside
     * {@code path}, made 0600, then renamed into place. A stale socket at {@code path} is replaced;
     * anything else there (a file, a live server) is refused.
     */
    private Channel bindOwnerOnly(ServerBootstrap b, Path path) {
        Path target = path.toAbsolutePath();
        removeStale(target);
        Path dir;
        try {
            dir = Files.createTempDirectory(target.getParent(), ".qmp", PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        } catch (IOException e) {
            throw new UserError("-qmp unix:" + path + ": cannot create a private directory in " + target.getParent() + ": " + e.getMessage());
        }
        Path temporary = dir.resolve("s");
        try {
            ChannelFuture f = b.bind(new DomainSocketAddress(temporary.toString())).awaitUninterruptibly();
            if (!f.isSuccess()) {
                throw new UserError("-qmp unix:" + path + ": cannot listen: " + f.cause().getMessage());
            }
            try {
                Files.setPosixFilePermissions(temporary, PosixFilePermissions.fromString("rw-------"));
                Files.move(temporary, target, StandardCopyOption.ATOMIC_MOVE);
            } catch (IOException e) {
                f.channel().close().awaitUninterruptibly();
                throw new UserError("-qmp unix:" + path + ": cannot put the socket in place: " + e.getMessage());
            }
            return f.channel();
        } finally {
            deleteQuietly(temporary);
            deleteQuietly(dir);
        }
    }

    private static void removeStale(Path path) {
        if (!Files.exists(path, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        boolean socket;
        try {
            socket = (((Integer) Files.getAttribute(path, "unix:mode", LinkOption.NOFOLLOW_LINKS)) & 0170000) == 0140000;
        } catch (IOException e) {
            throw new UserError("-qmp unix:" + path + ": cannot inspect it: " + e.getMessage());
        }
        if (!socket) {
            throw new UserError("-qmp unix:" + path + ": it exists and is not a socket");
        }
        try (SocketChannel live = SocketChannel.open(java.net.UnixDomainSocketAddress.of(path))) {
            throw new UserError("-qmp unix:" + path + ": a live server is accepting on it");
        } catch (IOException stale) {
            deleteQuietly(path);
        }
    }

    private static void deleteQuietly(Path path) {
        try {
            Files.deleteIfExists(path);
        } catch (IOException e) {
            log.debug("cannot delete {}: {}", path, e.toString());
        }
    }

    /** Where it listens (for TCP with the port actually bound). */
    public QmpEndpoint endpoint() {
        if (endpoint instanceof QmpEndpoint.Tcp tcp && serverChannel != null && serverChannel.localAddress() instanceof InetSocketAddress a) {
            return new QmpEndpoint.Tcp(tcp.host(), a.getPort());
        }
        return endpoint;
    }

    /** Clients connected now. */
    public int clients() {
        return sessions.size();
    }

    /** Clients accepted since the start. */
    public int clientsAccepted() {
        return accepted.get();
    }

    private void broadcast(MachineEvent event) {
        ObjectNode node = QmpJson.event(event.name(), data(event), Instant.now());
        for (ClientSession s : sessions) {
            if (s.state.negotiated()) {
                s.send(node);
            }
        }
    }

    static JsonNode data(MachineEvent event) {
        ObjectNode data = QmpJson.object();
        if (event instanceof MachineEvent.Reset r) {
            data.put("guest", r.guest());
            data.put("reason", r.reason());
        } else if (event instanceof MachineEvent.Shutdown s) {
            data.put("guest", s.guest());
            data.put("reason", s.reason());
        } else if (event instanceof MachineEvent.DeviceDeleted d) {
            data.put("device", d.device());
            data.put("path", d.path());
        } else if (event instanceof MachineEvent.BlockExportDeleted b) {
            data.put("id", b.id());
        } else {
            return null;
        }
        return data;
    }

    /**
     * Stops listening, closes every connection (after what was queued for it is written) and stops
     * the threads; a Unix socket file is removed. Safe to call from a command (quit).
     */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        machine.events().removeListener(listener);
        if (serverChannel != null) {
            serverChannel.close().awaitUninterruptibly();
        }
        for (ClientSession s : sessions) {
            Channel c = s.channel;
            if (c != null) {
                c.close();
            }
        }
        dispatch.shutdown();
        group.shutdownGracefully(0, 2, TimeUnit.SECONDS).awaitUninterruptibly(10, TimeUnit.SECONDS);
        if (Thread.currentThread() != dispatchThread) {
            try {
                if (!dispatch.awaitTermination(30, TimeUnit.SECONDS)) {
                    log.warn("QMP: a command was still running 30 s after the server was closed");
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        if (endpoint instanceof QmpEndpoint.Unix unix && serverChannel != null) {
            deleteQuietly(unix.path().toAbsolutePath());   // ours: it was bound (a failed start leaves another's socket alone)
        }
        log.info("{} machine: QMP on {} closed after {} clients", machine.kind(), endpoint().filename(), accepted.get());
    }

    /** One client: greeting, framing, its queue of commands, its replies and events. */
    private final class ClientSession extends ChannelInboundHandlerAdapter {
        final QmpDispatcher.Session state = new QmpDispatcher.Session();
        private final JsonSplitter splitter = new JsonSplitter(maxMessage, JsonSplitter.DEFAULT_MAX_DEPTH);
        private final AtomicInteger queued = new AtomicInteger();
        private final byte[] chunk = new byte[READ_CHUNK];
        volatile Channel channel;

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            channel = ctx.channel();
            if (closed.get() || sessions.size() >= MAX_CLIENTS) {
                log.warn("QMP: refusing a client on {}: {}", endpoint.filename(),
                        closed.get() ? "the server is closing" : MAX_CLIENTS + " clients are connected already");
                ctx.close();
                return;
            }
            sessions.add(this);
            int n = accepted.incrementAndGet();
            log.debug("QMP client #{} connected on {}", n, endpoint.filename());
            ObjectNode greeting = QmpJson.object();
            ObjectNode qmp = greeting.putObject("QMP");
            qmp.set("version", Queries.version());
            qmp.putArray("capabilities");
            send(greeting);
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf buf = (ByteBuf) msg;
            try {
                while (buf.isReadable()) {
                    int n = Math.min(buf.readableBytes(), chunk.length);
                    buf.readBytes(chunk, 0, n);
                    splitter.feed(chunk, 0, n, this::submit);
                }
            } finally {
                buf.release();
            }
        }

        private void submit(JsonSplitter.Frame frame) {
            if (queued.incrementAndGet() >= MAX_QUEUED) {
                channel.config().setAutoRead(false);   // the client waits until its commands have run
            }
            try {
                dispatch.execute(() -> run(frame));
            } catch (RejectedExecutionException e) {
                queued.decrementAndGet();   // the server is closing
            }
        }

        private void run(JsonSplitter.Frame frame) {
            try {
                if (!channel.isActive()) {
                    return;
                }
                QmpDispatcher.Outcome outcome = dispatcher.dispatch(frame, state);
                ChannelFuture sent = send(outcome.reply());
                if (outcome.afterReply() != null) {
                    if (sent != null) {
                        sent.awaitUninterruptibly(5, TimeUnit.SECONDS);
                    }
                    outcome.afterReply().run();
                }
            } catch (RuntimeException e) {
                log.error("QMP: a command failed after its reply", e);
            } finally {
                if (queued.decrementAndGet() < MAX_QUEUED && !channel.config().isAutoRead() && channel.isActive()) {
                    channel.config().setAutoRead(true);
                }
            }
        }

        ChannelFuture send(JsonNode node) {
            Channel c = channel;
            if (c == null || !c.isActive()) {
                return null;
            }
            if (!c.isWritable()) {
                log.warn("QMP: a client on {} leaves more than {} bytes unread; disconnecting it", endpoint.filename(), MAX_UNREAD);
                c.close();
                return null;
            }
            return c.writeAndFlush(Unpooled.wrappedBuffer(QmpJson.line(node)));
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            sessions.remove(this);
            log.debug("QMP client on {} disconnected", endpoint.filename());
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            log.debug("QMP client on {}: {}", endpoint.filename(), cause.toString());
            ctx.close();
        }
    }
}
