package io.jvmm.devices.p9;

import io.jvmm.chardev.SocketChardevSpec;
import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.unix.DomainSocketAddress;
import io.netty.handler.codec.LengthFieldBasedFrameDecoder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.ByteOrder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * virtio-9p in front of an external 9P server (jvmm-9p-server, diod) on a Unix socket, over Netty's
 * epoll transport: the guest's messages go out as they are, replies come back by tag. The device
 * keeps what a flush needs: when the server's Rflush arrives for a request it never answered, that
 * request's chain is returned empty first.
 *
 * <p>If the server goes away, every request in flight is answered at once (Rlerror(EIO), a Tflush
 * with Rflush), so no chain stays held; while it is away new requests get EIO; the device connects
 * again every {@code reconnect} (the chardev's, or 1 s) and repeats the guest's Tversion, so a
 * remount works. The log names the server's socket. Not bounded: a server that stays connected but
 * never answers (its requests stay in flight, as they would with QEMU).
 */
final class ForwardingBackend implements P9Backend {
    private static final Logger log = LoggerFactory.getLogger(ForwardingBackend.class);
    private static final int TFLUSH = 108;
    private static final int RFLUSH = 109;
    private static final int TVERSION = 100;
    private static final int NOTAG = 0xffff;
    private static final int MAX_MESSAGE = 16 << 20;
    static final Duration DEFAULT_RECONNECT = Duration.ofSeconds(1);

    private final String deviceId;
    private final SocketChardevSpec spec;
    private final P9Metrics metrics;
    private final Duration reconnect;
    private final EventLoopGroup group;
    private final Object lock = new Object();
    // Guarded by lock.
    private Channel channel;
    private Sink sink;
    private final Map<Integer, P9Device.Slot> inFlight = new HashMap<>();
    private final Map<Integer, Integer> flushVictims = new HashMap<>();
    private byte[] version;              // the guest's last Tversion, repeated after a reconnect
    private boolean swallowVersionReply;
    private boolean closed;

    /**
     * Connects (rule 6: a device whose server is not there is not created).
     *
     * @throws IllegalStateException naming the socket when the server cannot be reached
     */
    ForwardingBackend(String deviceId, SocketChardevSpec spec, P9Metrics metrics) {
        this.deviceId = deviceId;
        this.spec = spec;
        this.metrics = metrics;
        this.reconnect = spec.reconnect() != null ? spec.reconnect() : DEFAULT_RECONNECT;
        this.group = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
        try {
            Channel ch = connect().sync().channel();
            synchronized (lock) {
                channel = ch;
            }
        } catch (Exception e) {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
            throw new IllegalStateException("cannot connect to the 9P server on " + spec.path() + ": " + e.getMessage(), e);
        }
        log.info("virtio-9p {}: forwarding to the 9P server on {}", deviceId, spec.path());
    }

    private ChannelFuture connect() {
        return new Bootstrap().group(group).channel(EpollDomainSocketChannel.class)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) Math.min(Integer.MAX_VALUE, spec.connectTimeout().toMillis()))
                .handler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast(new LengthFieldBasedFrameDecoder(ByteOrder.LITTLE_ENDIAN, MAX_MESSAGE, 0, 4, -4, 0, true));
                        ch.pipeline().addLast(new ReplyHandler());
                    }
                })
                .connect(new DomainSocketAddress(spec.path().toString()));
    }

    @Override
    public void start(Sink sink) {
        synchronized (lock) {
            this.sink = sink;
        }
    }

    @Override
    public void submit(ByteBuf message, P9Device.Slot slot) {
        int type = message.getUnsignedByte(4);
        int tag = message.getUnsignedShortLE(5);
        synchronized (lock) {
            if (channel == null || !channel.isActive()) {
                message.release();
                metrics.failed(1);
                sink.reply(slot, failure(type, tag));
                return;
            }
            if (type == TVERSION) {
                version = new byte[message.readableBytes()];
                message.getBytes(0, version);
                swallowVersionReply = false;
            }
            if (type == TFLUSH && message.readableBytes() >= 9) {
                flushVictims.put(tag, message.getUnsignedShortLE(7));
            }
            P9Device.Slot previous = inFlight.put(tag, slot);
            if (previous != null) {
                log.warn("virtio-9p {}: the guest reused tag {} while it was in flight; the older request fails with EIO", deviceId, tag);
                sink.reply(previous, failure(TVERSION + 1, tag));
            }
            channel.writeAndFlush(message, channel.voidPromise());
        }
    }

    /** Rlerror(EIO), or Rflush for a Tflush (the only answer a Tflush may get). */
    private static ByteBuf failure(int type, int tag) {
        ByteBuf b = PooledByteBufAllocator.DEFAULT.directBuffer(11);
        if (type == TFLUSH) {
            return b.writeIntLE(7).writeByte(RFLUSH).writeShortLE(tag);
        }
        return b.writeIntLE(11).writeByte(7).writeShortLE(tag).writeIntLE(5);
    }

    private final class ReplyHandler extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf reply = (ByteBuf) msg;
            int type = reply.getUnsignedByte(4);
            int tag = reply.getUnsignedShortLE(5);
            synchronized (lock) {
                if (tag == NOTAG && swallowVersionReply) {
                    swallowVersionReply = false;   // the answer to our own repeated Tversion
                    reply.release();
                    return;
                }
                P9Device.Slot slot = inFlight.remove(tag);
                if (slot == null || sink == null) {
                    log.warn("virtio-9p {}: the 9P server on {} answered tag {}, which is not in flight; ignored",
                            deviceId, spec.path(), tag);
                    reply.release();
                    return;
                }
                Integer victim = flushVictims.remove(tag);
                if (type == RFLUSH && victim != null) {
                    P9Device.Slot v = inFlight.remove(victim);
                    if (v != null) {
                        flushVictims.remove(victim);
                        sink.release(v);       // flushed without a reply: its chain goes back empty, before the Rflush
                    }
                }
                sink.reply(slot, reply);
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            disconnected(ctx.channel());
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            log.warn("virtio-9p {}: the connection to the 9P server on {} failed: {}", deviceId, spec.path(), cause.toString());
            ctx.close();
        }
    }

    /** The server went away: everything in flight is answered now, then we try again. */
    private void disconnected(Channel ch) {
        int failed;
        synchronized (lock) {
            if (channel != ch) {
                log.debug("virtio-9p {}: an earlier connection to {} closed", deviceId, spec.path());
                return;
            }
            channel = null;
            failed = failAllLocked();
            if (closed) {
                return;
            }
        }
        log.warn("virtio-9p {}: the 9P server on {} went away; {} requests in flight failed with EIO; connecting again every {} ms",
                deviceId, spec.path(), failed, reconnect.toMillis());
        scheduleReconnect();
    }

    private int failAllLocked() {
        // Counted before any reply: a guest that sees its EIO and reads the meter finds it counted.
        int n = inFlight.size();
        metrics.failed(n);
        List<Map.Entry<Integer, P9Device.Slot>> flushes = new ArrayList<>();
        for (Map.Entry<Integer, P9Device.Slot> e : inFlight.entrySet()) {
            if (flushVictims.containsKey(e.getKey())) {
                flushes.add(e);
            } else {
                sink.reply(e.getValue(), failure(0, e.getKey()));
            }
        }
        for (Map.Entry<Integer, P9Device.Slot> e : flushes) {
            sink.reply(e.getValue(), failure(TFLUSH, e.getKey()));   // after their victims' errors
        }
        inFlight.clear();
        flushVictims.clear();
        return n;
    }

    private void scheduleReconnect() {
        group.schedule(() -> {
            synchronized (lock) {
                if (closed || channel != null) {
                    return;
                }
            }
            connect().addListener((ChannelFuture f) -> {
                if (!f.isSuccess()) {
                    log.debug("virtio-9p {}: 9P server on {} not back yet: {}", deviceId, spec.path(), f.cause().toString());
                    scheduleReconnect();
                    return;
                }
                Channel ch = f.channel();
                synchronized (lock) {
                    if (closed) {
                        ch.close();
                        return;
                    }
                    channel = ch;
                    if (version != null) {
                        swallowVersionReply = true;
                        byte[] v = version.clone();
                        v[5] = (byte) 0xff;
                        v[6] = (byte) 0xff;
                        ch.writeAndFlush(PooledByteBufAllocator.DEFAULT.directBuffer(v.length).writeBytes(v));
                    }
                }
                metrics.reconnected();
                log.info("virtio-9p {}: connected again to the 9P server on {}", deviceId, spec.path());
            });
        }, reconnect.toMillis(), TimeUnit.MILLISECONDS);
    }

    @Override
    public void stop() {
        // A reset: a fresh connection, so the server forgets the guest's fids; all in flight is answered.
        Channel ch;
        synchronized (lock) {
            ch = channel;
            channel = null;
            if (sink != null) {
                failAllLocked();
            }
            version = null;
        }
        if (ch != null) {
            ch.close();
            scheduleReconnectNow();
        }
    }

    private void scheduleReconnectNow() {
        try {
            Channel ch = connect().sync().channel();
            synchronized (lock) {
                if (!closed && channel == null) {
                    channel = ch;
                    return;
                }
            }
            ch.close();
        } catch (Exception e) {
            log.warn("virtio-9p {}: reconnecting to the 9P server on {} after a reset failed: {}; trying again every {} ms",
                    deviceId, spec.path(), e.toString(), reconnect.toMillis());
            scheduleReconnect();
        }
    }

    @Override
    public String describe() {
        return "the 9P server on " + spec.path() + " (chardev " + spec.id() + ")";
    }

    @Override
    public void close() {
        Channel ch;
        synchronized (lock) {
            closed = true;
            ch = channel;
            channel = null;
            if (sink != null) {
                failAllLocked();
            }
        }
        if (ch != null) {
            ch.close().awaitUninterruptibly(2, TimeUnit.SECONDS);
        }
        group.shutdownGracefully(0, 2, TimeUnit.SECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS);
    }
}
