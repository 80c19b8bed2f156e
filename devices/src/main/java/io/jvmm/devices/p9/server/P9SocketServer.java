package io.jvmm.devices.p9.server;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import io.netty.handler.codec.LengthFieldBasedFrameDecoder;
import io.netty.util.concurrent.GlobalEventExecutor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.concurrent.TimeUnit;

/**
 * A {@link P9Server} behind a socket: a Unix domain socket (owner-only, 0600) or TCP, on Netty's
 * epoll transport. Each connection is one session; messages are framed by their size field and
 * refused (the connection closed, with a log line naming the peer) when larger than the msize.
 */
public final class P9SocketServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(P9SocketServer.class);

    private final P9Server server;
    private final EventLoopGroup group;
    private final Channel listener;
    private final Path socketPath;
    /** Open client connections (a closed channel leaves the group by itself). */
    private final ChannelGroup connections = new DefaultChannelGroup("9p-clients", GlobalEventExecutor.INSTANCE);
    private volatile boolean closed;

    private P9SocketServer(P9Server server, SocketAddress address, Path socketPath) throws InterruptedException {
        this.server = server;
        this.socketPath = socketPath;
        this.group = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
        ServerBootstrap b = new ServerBootstrap().group(group)
                .channel(socketPath != null ? EpollServerDomainSocketChannel.class : EpollServerSocketChannel.class)
                .childHandler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast(new LengthFieldBasedFrameDecoder(ByteOrder.LITTLE_ENDIAN,
                                server.config().maxMsize(), 0, 4, -4, 0, true));
                        ch.pipeline().addLast(new SessionHandler());
                    }
                });
        try {
            this.listener = b.bind(address).sync().channel();
        } catch (RuntimeException | InterruptedException e) {
            group.shutdownGracefully();
            throw e;
        }
    }

    /** Listens on a Unix socket at {@code path} (owner-only). */
    public static P9SocketServer unix(P9Server server, Path path) throws IOException, InterruptedException {
        Files.deleteIfExists(path);
        P9SocketServer s = new P9SocketServer(server, new DomainSocketAddress(path.toString()), path);
        Files.setPosixFilePermissions(path, PosixFilePermissions.fromString("rw-------"));
        log.info("9P {}: listening on unix:{}", server.name(), path);
        return s;
    }

    /** Listens on TCP {@code host:port} (port 0: any free port, see {@link #port()}). */
    public static P9SocketServer tcp(P9Server server, String host, int port) throws InterruptedException {
        P9SocketServer s = new P9SocketServer(server, new InetSocketAddress(host, port), null);
        log.info("9P {}: listening on tcp:{}:{}", server.name(), host, s.port());
        return s;
    }

    public int port() {
        return ((InetSocketAddress) listener.localAddress()).getPort();
    }

    public P9Server server() {
        return server;
    }

    private final class SessionHandler extends ChannelInboundHandlerAdapter implements P9Connection {
        private P9Session session;
        private Channel channel;
        private String peer;

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            channel = ctx.channel();
            if (closed) {
                ctx.close();      // accepted while the server closes: never served, never left open
                return;
            }
            connections.add(channel);
            SocketAddress remote = channel.remoteAddress();
            peer = remote == null || socketPath != null ? "unix:" + socketPath : "tcp:" + remote;
            session = server.open(this);
            log.debug("9P {}: client connected on {}", server.name(), peer);
            ctx.fireChannelActive();
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            session.receive((ByteBuf) msg, null);
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            if (session != null) {
                server.closed(session);
            }
            log.debug("9P {}: client on {} disconnected", server.name(), peer);
            ctx.fireChannelInactive();
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            log.warn("9P {}: closing the connection of the client on {}: {}", server.name(), peer, cause.toString());
            ctx.close();
        }

        @Override
        public void send(Request request, ByteBuf reply) {
            // Always through the event loop's task queue, even from the event loop itself: a write
            // made there directly would overtake replies that workers queued before it (an Rflush
            // ahead of its victim's reply). The session calls this under its lock, in wire order.
            try {
                channel.eventLoop().execute(() -> channel.writeAndFlush(reply, channel.voidPromise()));
            } catch (java.util.concurrent.RejectedExecutionException e) {
                reply.release();   // the server is shutting down: the client is gone with it
            }
        }

        @Override
        public void cancelled(Request request) {
            // nothing is held for a socket client
        }

        @Override
        public String describe() {
            return server.name() + " client " + peer;
        }
    }

    /**
     * Stops listening, closes every client's connection (so clients see the end at once), then the
     * loop. The connections are closed here, not left to the loop's shutdown: a loop that shuts down
     * was seen (Netty 4.2.18) to leave an accepted socket open, its client waiting for ever.
     */
    @Override
    public void close() {
        closed = true;
        listener.close().awaitUninterruptibly();
        if (!connections.close().awaitUninterruptibly(5, TimeUnit.SECONDS)) {
            log.warn("9P {}: client connections did not all close within 5 s", server.name());
        }
        group.shutdownGracefully(0, 2, TimeUnit.SECONDS).awaitUninterruptibly();
        if (socketPath != null) {
            try {
                Files.deleteIfExists(socketPath);
            } catch (IOException e) {
                log.debug("removing {}: {}", socketPath, e.toString());
            }
        }
    }
}
