package io.jvmm.emulator.metrics;

import io.jvmm.platform.options.UserError;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.timeout.ReadTimeoutHandler;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.netty.util.concurrent.GlobalEventExecutor;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.UnknownHostException;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A small HTTP/1.1 server (Netty, one event-loop thread) that answers {@code GET /metrics} with a
 * Prometheus registry's text exposition format. Everything else is refused: another path 404,
 * another method 405 (with {@code Allow: GET}), a malformed request 400, a request line over
 * {@value #MAX_LINE} bytes 414, headers over {@value #MAX_HEADERS} bytes 431, a body over
 * {@value #MAX_BODY} bytes 413. At most {@value #MAX_CONNECTIONS} connections at once (more are
 * closed at once), and a connection idle for {@value #IDLE_SECONDS} s is closed.
 */
public final class MetricsServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(MetricsServer.class);

    static final int MAX_LINE = 4096;
    static final int MAX_HEADERS = 8192;
    static final int MAX_BODY = 1024;
    static final int MAX_CONNECTIONS = 32;
    static final int IDLE_SECONDS = 120;

    private final EventLoopGroup group;
    private final Channel channel;
    private final ChannelGroup connections;
    private final InetSocketAddress address;
    private final AtomicBoolean closed = new AtomicBoolean();

    private MetricsServer(EventLoopGroup group, Channel channel, ChannelGroup connections) {
        this.group = group;
        this.channel = channel;
        this.connections = connections;
        this.address = (InetSocketAddress) channel.localAddress();
    }

    /**
     * Listens on {@code host}:{@code port} (0: a free port) and serves {@code registry}.
     *
     * @throws UserError if the address cannot be resolved or bound, naming it and why
     */
    public static MetricsServer start(String host, int port, PrometheusMeterRegistry registry) {
        Objects.requireNonNull(registry, "registry");
        InetAddress address;
        try {
            address = InetAddress.getByName(host);
        } catch (UnknownHostException e) {
            throw new UserError("-metrics: host=" + host + " is not an address of this machine (" + e.getMessage() + ")");
        }
        EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, new DefaultThreadFactory("jvmm-metrics", true),
                NioIoHandler.newFactory());
        ChannelGroup open = new DefaultChannelGroup("metrics-clients", GlobalEventExecutor.INSTANCE);
        ServerBootstrap bootstrap = new ServerBootstrap()
                .group(group)
                .channel(NioServerSocketChannel.class)
                .option(ChannelOption.SO_REUSEADDR, true)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        open.add(ch);
                        ch.pipeline().addLast(new ConnectionLimit(open),
                                new ReadTimeoutHandler(IDLE_SECONDS, TimeUnit.SECONDS),
                                new HttpServerCodec(MAX_LINE, MAX_HEADERS, MAX_HEADERS),
                                new HttpObjectAggregator(MAX_BODY, true),
                                new MetricsHandler(registry));
                    }
                });
        try {
            Channel channel = bootstrap.bind(new InetSocketAddress(address, port)).syncUninterruptibly().channel();
            return new MetricsServer(group, channel, open);
        } catch (Exception e) {   // a BindException comes through unchecked
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
            throw new UserError("-metrics: cannot listen on " + host + ":" + port + " (" + e.getMessage()
                    + "); choose another port, or port=0 for any free one", e);
        }
    }

    /** The address it listens on (with the port chosen when 0 was asked). */
    public InetSocketAddress address() {
        return address;
    }

    /** {@code http://HOST:PORT/metrics}. */
    public URI uri() {
        String host = address.getAddress().getHostAddress();
        if (host.contains(":")) {
            host = "[" + host + "]";
        }
        return URI.create("http://" + host + ":" + address.getPort() + MetricsHandler.PATH);
    }

    /**
     * Stops listening, closes the connections and ends the event-loop thread (once; again does
     * nothing). The connections are
     * closed here, not left to the loop's shutdown (which left accepted sockets open in the 9P server).
     */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        channel.close().syncUninterruptibly();
        connections.close().awaitUninterruptibly(5, TimeUnit.SECONDS);
        group.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
        log.debug("metrics server on {} stopped", address);
    }

    /**
     * Closes connections beyond {@link #MAX_CONNECTIONS} as soon as they are accepted: the open ones
     * are the group's (a channel joins it when initialised, leaves it when closed).
     */
    private static final class ConnectionLimit extends ChannelInboundHandlerAdapter {
        private final ChannelGroup open;

        ConnectionLimit(ChannelGroup open) {
            this.open = open;
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) throws Exception {
            if (open.size() > MAX_CONNECTIONS) {
                log.warn("metrics: more than {} connections at once; closing the one from {}", MAX_CONNECTIONS,
                        ctx.channel().remoteAddress());
                ctx.close();
                return;
            }
            super.channelActive(ctx);
        }
    }
}
