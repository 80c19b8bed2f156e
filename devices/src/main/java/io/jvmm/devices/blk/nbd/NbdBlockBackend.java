package io.jvmm.devices.blk.nbd;

import static io.jvmm.devices.nbd.NbdProtocol.*;

import io.jvmm.devices.blk.BlockBackend;
import io.jvmm.devices.blk.loop.NettyLoop;
import io.jvmm.devices.nbd.NbdAddress;
import io.jvmm.devices.nbd.NbdServer;
import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A block back-end that is an NBD export: fixed newstyle negotiation with structured replies and
 * NBD_OPT_GO, then requests in flight matched to their replies by cookie (replies may come in any
 * order). FLUSH, FUA, TRIM and WRITE_ZEROES are passed through when the server offers them.
 *
 * <p>The connection runs on its own event loop ({@code nbd-client}), never on the loop that waits
 * for the open (rule 5). When the server dies, errors or does not answer within the request
 * timeout, the requests in flight fail with an I/O error (the device reports IOERR); the client does
 * not retry them. It reconnects in the background every {@link NbdClientSettings#RETRY}; requests made
 * while it is disconnected wait up to the reconnect delay, then fail. When the server is back, new
 * requests go through again.
 */
public final class NbdBlockBackend implements BlockBackend {
    private static final Logger log = LoggerFactory.getLogger(NbdBlockBackend.class);
    static final String CLIENT_LOOP = "nbd-client";

    private final String owner;
    private final NbdUri uri;
    private final NbdClientSettings settings;
    private final boolean userReadOnly;
    private final NettyLoop.Lease loop;
    private final Map<Long, Pending> pending = new ConcurrentHashMap<>();
    private final AtomicLong cookies = new AtomicLong(1);
    private final List<Waiting> waiting = new ArrayList<>();   // guarded by this
    private volatile Channel channel;   // the ready connection, or null
    private volatile Channel attempt;   // the connection being made
    private volatile boolean closed;
    private volatile boolean reconnecting;
    private long size;
    private int flags;
    private int maxPayload = MAX_PAYLOAD;

    private NbdBlockBackend(String owner, NbdUri uri, NbdClientSettings settings, boolean readOnly) {
        this.owner = owner;
        this.uri = uri;
        this.settings = settings;
        this.userReadOnly = readOnly;
        this.loop = NettyLoop.acquire(CLIENT_LOOP);
    }

    /**
     * Connects and negotiates, waiting on {@code waiter} (the loop the caller runs on: the main
     * loop for an open) up to the open timeout; the watchdog reports the wait if that loop stalls.
     *
     * @throws IllegalArgumentException naming the export and the server when it cannot be opened
     */
    public static NbdBlockBackend open(String owner, NbdUri uri, NbdClientSettings settings, boolean readOnly, NettyLoop waiter) {
        NbdBlockBackend b = new NbdBlockBackend(owner, uri, settings, readOnly);
        String served = NbdServer.describeListenerAt(uri.address());
        String what = "opening NBD export '" + uri.export() + "' at " + uri.address() + " for " + owner
                + (served == null ? "" : " (served by this process's " + served + ")");
        try {
            Channel c = waiter.await(b.connect(), settings.openTimeout(), what);
            b.channel = c;
            log.info("{}: NBD export '{}' at {}: {} bytes, flags 0x{}", owner, uri.export(), uri.address(), b.size,
                    Integer.toHexString(b.flags));
            return b;
        } catch (RuntimeException e) {
            b.close();
            throw new IllegalArgumentException("cannot open NBD export '" + uri.export() + "' at " + uri.address() + ": "
                    + e.getMessage(), e);
        }
    }

    /** One connection attempt: completes with the channel once the negotiation is done. */
    private CompletableFuture<Channel> connect() {
        CompletableFuture<Channel> ready = new CompletableFuture<>();
        NbdAddress a = uri.address();
        Bootstrap bs = new Bootstrap().group(loop.loop().eventLoop())
                .channel(a.isUnix() ? EpollDomainSocketChannel.class : EpollSocketChannel.class)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) Math.min(Integer.MAX_VALUE, settings.openTimeout().toMillis()))
                .handler(new Connection(ready));
        if (!a.isUnix()) {
            bs.option(ChannelOption.TCP_NODELAY, true);
        }
        io.netty.channel.ChannelFuture cf = bs.connect(a.socketAddress());
        attempt = cf.channel();
        if (closed) {
            cf.channel().close();
        }
        cf.addListener(f -> {
            if (!f.isSuccess()) {
                ready.completeExceptionally(new IOException("cannot connect to " + a + ": " + f.cause().getMessage(), f.cause()));
            }
        });
        ready.whenComplete((c, e) -> {
            if (e != null) {
                cf.channel().close();   // failed, or the waiter gave up: drop the half-made connection
            }
        });
        return ready;
    }

    // ------------------------------------------------------------------ BlockBackend

    @Override
    public long size() {
        return size;
    }

    @Override
    public boolean readOnly() {
        return userReadOnly || (flags & FLAG_READ_ONLY) != 0;
    }

    @Override
    public CompletableFuture<Void> read(ByteBuffer dst, long position) {
        List<CompletableFuture<Void>> parts = new ArrayList<>();
        int base = dst.position();
        for (int off = 0; off < dst.remaining(); off += maxPayload) {
            int n = Math.min(maxPayload, dst.remaining() - off);
            ByteBuffer slice = dst.duplicate().position(base + off).limit(base + off + n).slice();
            parts.add(submit(CMD_READ, 0, position + off, n, slice, null));
        }
        return all(parts).thenRun(() -> dst.position(dst.limit()));
    }

    @Override
    public CompletableFuture<Void> write(ByteBuffer src, long position) {
        return write(src, position, false);
    }

    @Override
    public CompletableFuture<Void> write(ByteBuffer src, long position, boolean fua) {
        if (readOnly()) {
            return CompletableFuture.failedFuture(new IOException(describe() + " is read-only"));
        }
        boolean sendFua = fua && (flags & FLAG_SEND_FUA) != 0;
        List<CompletableFuture<Void>> parts = new ArrayList<>();
        int base = src.position();
        for (int off = 0; off < src.remaining(); off += maxPayload) {
            int n = Math.min(maxPayload, src.remaining() - off);
            ByteBuffer slice = src.duplicate().position(base + off).limit(base + off + n).slice();
            parts.add(submit(CMD_WRITE, sendFua ? CMD_FLAG_FUA : 0, position + off, n, null, slice));
        }
        CompletableFuture<Void> w = all(parts).thenRun(() -> src.position(src.limit()));
        return fua && !sendFua ? w.thenCompose(x -> flush()) : w;
    }

    @Override
    public CompletableFuture<Void> flush() {
        if ((flags & FLAG_SEND_FLUSH) == 0) {
            return CompletableFuture.completedFuture(null);
        }
        return submit(CMD_FLUSH, 0, 0, 0, null, null);
    }

    @Override
    public CompletableFuture<Void> discard(long position, long length) {
        if (readOnly()) {
            return CompletableFuture.failedFuture(new IOException(describe() + " is read-only"));
        }
        if ((flags & FLAG_SEND_TRIM) == 0) {
            return CompletableFuture.completedFuture(null);   // a hint the server does not take
        }
        return ranges(CMD_TRIM, 0, position, length);
    }

    @Override
    public CompletableFuture<Void> writeZeroes(long position, long length, boolean mayUnmap) {
        if (readOnly()) {
            return CompletableFuture.failedFuture(new IOException(describe() + " is read-only"));
        }
        if ((flags & FLAG_SEND_WRITE_ZEROES) == 0) {
            List<CompletableFuture<Void>> parts = new ArrayList<>();
            for (long off = 0; off < length; off += maxPayload) {
                int n = (int) Math.min(maxPayload, length - off);
                parts.add(submit(CMD_WRITE, 0, position + off, n, null, ByteBuffer.allocate(n)));
            }
            return all(parts);
        }
        return ranges(CMD_WRITE_ZEROES, mayUnmap ? 0 : CMD_FLAG_NO_HOLE, position, length);
    }

    private CompletableFuture<Void> ranges(int type, int cmdFlags, long position, long length) {
        List<CompletableFuture<Void>> parts = new ArrayList<>();
        long step = 1L << 30;
        for (long off = 0; off < length; off += step) {
            parts.add(submit(type, cmdFlags, position + off, Math.min(step, length - off), null, null));
        }
        return all(parts);
    }

    private static CompletableFuture<Void> all(List<CompletableFuture<Void>> parts) {
        return parts.size() == 1 ? parts.get(0) : CompletableFuture.allOf(parts.toArray(new CompletableFuture<?>[0]));
    }

    @Override
    public String describe() {
        return "NBD export " + uri + (readOnly() ? " (read-only)" : "");
    }

    /** Whether a connection is up now. */
    public boolean connected() {
        Channel c = channel;
        return c != null && c.isActive();
    }

    // ------------------------------------------------------------------ requests

    /** One request in flight. */
    private final class Pending {
        final long cookie;
        final int type;
        final long offset;
        final long length;
        final ByteBuffer dst;
        final CompletableFuture<Void> done = new CompletableFuture<>();
        io.netty.util.concurrent.ScheduledFuture<?> timer;
        int error;
        String message;

        Pending(long cookie, int type, long offset, long length, ByteBuffer dst) {
            this.cookie = cookie;
            this.type = type;
            this.offset = offset;
            this.length = length;
            this.dst = dst;
        }

        String describe() {
            return commandName(type) + " offset " + offset + " length " + length;
        }
    }

    /** A request made while disconnected, waiting for the reconnect. */
    private record Waiting(Runnable send, CompletableFuture<Void> done) {
    }

    private CompletableFuture<Void> submit(int type, int cmdFlags, long offset, long length, ByteBuffer dst, ByteBuffer src) {
        if (closed) {
            return CompletableFuture.failedFuture(new IOException(describe() + " is closed"));
        }
        Channel c = channel;
        if (c != null && c.isActive()) {
            return send(c, type, cmdFlags, offset, length, dst, src);
        }
        if (settings.reconnectDelay().isZero()) {
            return CompletableFuture.failedFuture(new IOException(describe() + ": not connected (reconnecting in the background)"));
        }
        CompletableFuture<Void> done = new CompletableFuture<>();
        Waiting w = new Waiting(() -> {
            Channel now = channel;
            if (now == null) {
                done.completeExceptionally(new IOException(describe() + ": not connected"));
            } else {
                send(now, type, cmdFlags, offset, length, dst, src).whenComplete((x, e) -> {
                    if (e != null) {
                        done.completeExceptionally(e);
                    } else {
                        done.complete(null);
                    }
                });
            }
        }, done);
        synchronized (this) {
            Channel again = channel;
            if (again != null && again.isActive()) {
                w.send.run();
                return done;
            }
            waiting.add(w);
        }
        loop.loop().eventLoop().schedule(() -> {
            boolean removed;
            synchronized (this) {
                removed = waiting.remove(w);
            }
            if (removed) {
                done.completeExceptionally(new IOException(describe() + ": not reconnected within the reconnect delay of "
                        + settings.reconnectDelay().toMillis() + " ms"));
            }
        }, settings.reconnectDelay().toNanos(), TimeUnit.NANOSECONDS);
        return done;
    }

    private CompletableFuture<Void> send(Channel c, int type, int cmdFlags, long offset, long length, ByteBuffer dst, ByteBuffer src) {
        long cookie = cookies.getAndIncrement();
        Pending p = new Pending(cookie, type, offset, length, dst);
        pending.put(cookie, p);
        ByteBuf h = Unpooled.buffer(REQUEST_SIZE);
        h.writeInt(REQUEST_MAGIC).writeShort(cmdFlags).writeShort(type).writeLong(cookie).writeLong(offset).writeInt((int) length);
        p.timer = c.eventLoop().schedule(() -> timedOut(c, p), settings.requestTimeout().toNanos(), TimeUnit.NANOSECONDS);
        c.writeAndFlush(src == null ? h : Unpooled.wrappedBuffer(h, Unpooled.wrappedBuffer(src))).addListener(f -> {
            if (!f.isSuccess()) {
                fail(p, new IOException(describe() + ": sending " + p.describe() + ": " + f.cause().getMessage(), f.cause()));
            }
        });
        if (!c.isActive()) {
            fail(p, new IOException(describe() + ": connection lost"));
        }
        return p.done;
    }

    private void timedOut(Channel c, Pending p) {
        if (pending.containsKey(p.cookie)) {
            log.warn("{}: {} on {} got no reply within {} ms; failing it and reconnecting", owner, p.describe(), uri,
                    settings.requestTimeout().toMillis());
            fail(p, new IOException(describe() + ": no reply to " + p.describe() + " within " + settings.requestTimeout().toMillis() + " ms"));
            c.close();
        }
    }

    private void fail(Pending p, Throwable e) {
        if (pending.remove(p.cookie, p)) {
            if (p.timer != null) {
                p.timer.cancel(false);
            }
            p.done.completeExceptionally(e);
        }
    }

    private void complete(Pending p) {
        if (pending.remove(p.cookie, p)) {
            if (p.timer != null) {
                p.timer.cancel(false);
            }
            if (p.error != 0) {
                p.done.completeExceptionally(new IOException(describe() + ": " + p.describe() + " failed with " + errorName(p.error)
                        + (p.message == null || p.message.isEmpty() ? "" : " (" + p.message + ")")));
            } else {
                p.done.complete(null);
            }
        }
    }

    /** The connection dropped: fail what was in flight, and reconnect unless closed. */
    private void lost(Channel c, String why) {
        lost(c, why, null);
    }

    private void lost(Channel c, String why, Throwable cause) {
        if (channel == c) {
            channel = null;
        }
        IOException e = new IOException(describe() + ": connection lost (" + why + ")", cause);
        List<Pending> inFlight = List.copyOf(pending.values());
        for (Pending p : inFlight) {
            fail(p, e);
        }
        if (!closed) {
            log.warn("{}: connection to {} lost ({}); {} request(s) in flight failed; reconnecting", owner, uri.address(), why,
                    inFlight.size());
            scheduleReconnect();
        }
    }

    private void scheduleReconnect() {
        if (closed || reconnecting) {
            return;
        }
        reconnecting = true;
        loop.loop().eventLoop().schedule(this::reconnect, NbdClientSettings.RETRY.toMillis(), TimeUnit.MILLISECONDS);
    }

    private void reconnect() {
        if (closed) {
            reconnecting = false;
            return;
        }
        long oldSize = size;
        connect().whenComplete((c, e) -> {
            if (e != null || closed) {
                if (c != null) {
                    c.close();
                }
                reconnecting = false;
                log.debug("{}: reconnect to {} failed: {}", owner, uri.address(), e == null ? "closed" : e.getMessage());
                scheduleReconnect();
                return;
            }
            if (size != oldSize) {
                log.warn("{}: {} came back with size {} instead of {}", owner, uri, size, oldSize);
            }
            List<Waiting> ws;
            synchronized (this) {
                channel = c;
                reconnecting = false;
                ws = List.copyOf(waiting);
                waiting.clear();
            }
            log.info("{}: reconnected to {}", owner, uri.address());
            for (Waiting w : ws) {
                w.send.run();
            }
        });
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        Channel c = channel;
        channel = null;
        Channel a = attempt;
        if (a != null && a != c) {
            a.close().awaitUninterruptibly(5, TimeUnit.SECONDS);
        }
        if (c != null && c.isActive()) {
            ByteBuf h = Unpooled.buffer(REQUEST_SIZE);
            h.writeInt(REQUEST_MAGIC).writeShort(0).writeShort(CMD_DISC).writeLong(0).writeLong(0).writeInt(0);
            c.writeAndFlush(h);
            c.close().awaitUninterruptibly(5, TimeUnit.SECONDS);
        }
        IOException e = new IOException(describe() + " is closed");
        for (Pending p : List.copyOf(pending.values())) {
            fail(p, e);
        }
        synchronized (this) {
            for (Waiting w : waiting) {
                w.done.completeExceptionally(e);
            }
            waiting.clear();
        }
        loop.close();
    }

    // ------------------------------------------------------------------ the wire

    /** One connection: the negotiation, then reply parsing. Runs on the client loop. */
    private final class Connection extends ChannelInboundHandlerAdapter {
        private final CompletableFuture<Channel> ready;
        private ByteBuf in;
        private int step;   // 0 greeting, 1 structured-reply ack, 2 GO replies, 3 transmission
        private boolean structured;
        private int newFlags;
        private long newSize = -1;
        private String failure;          // why the connection is being dropped (transmission)
        private Throwable failureCause;

        Connection(CompletableFuture<Channel> ready) {
            this.ready = ready;
        }

        @Override
        public void handlerAdded(ChannelHandlerContext ctx) {
            in = ctx.alloc().buffer(4096);
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            if (in != null) {
                in.release();
                in = null;
            }
            if (!ready.isDone()) {
                ready.completeExceptionally(new IOException("the server closed the connection during the negotiation"));
            } else if (step == 3) {
                lost(ctx.channel(), failure != null ? failure : "closed", failureCause);
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            if (cause instanceof IOException) {
                log.debug("{}: {}", owner, cause.toString());
            } else {
                log.warn("{}: internal error on the connection to {}", owner, uri.address(), cause);
            }
            fatal(ctx, cause.getMessage() == null ? cause.toString() : cause.getMessage(), cause);
        }

        private void fatal(ChannelHandlerContext ctx, String why) {
            fatal(ctx, why, null);
        }

        /** {@code cause}: what went wrong, kept in the open's failure (null for a protocol error, whose message says it all). */
        private void fatal(ChannelHandlerContext ctx, String why, Throwable cause) {
            if (!ready.isDone()) {
                ready.completeExceptionally(new IOException(why, cause));
            } else if (step == 3) {
                log.warn("{}: protocol error from {}: {}", owner, uri.address(), why);
                if (failure == null) {
                    failure = why;
                    failureCause = cause;
                }
            }
            ctx.close();
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf b = (ByteBuf) msg;
            try {
                if (in == null) {
                    return;
                }
                in.writeBytes(b);
            } finally {
                b.release();
            }
            try {
                while (in != null && ctx.channel().isActive() && parse(ctx)) {
                    // keep going
                }
                if (in != null) {
                    in.discardSomeReadBytes();
                }
            } catch (ProtocolError e) {
                fatal(ctx, e.getMessage());
            }
        }

        private boolean parse(ChannelHandlerContext ctx) {
            switch (step) {
                case 0:
                    return greeting(ctx);
                case 1:
                case 2:
                    return optionReply(ctx);
                default:
                    return reply(ctx);
            }
        }

        private boolean greeting(ChannelHandlerContext ctx) {
            if (in.readableBytes() < 18) {
                return false;
            }
            long magic = in.readLong();
            long opt = in.readLong();
            int hflags = in.readUnsignedShort();
            if (magic != NBDMAGIC || opt != IHAVEOPT) {
                throw new ProtocolError("not an NBD newstyle server (greeting 0x" + Long.toHexString(magic) + " 0x" + Long.toHexString(opt) + ")");
            }
            if ((hflags & FLAG_FIXED_NEWSTYLE) == 0) {
                throw new ProtocolError("the server does not speak fixed newstyle negotiation");
            }
            int cflags = FLAG_C_FIXED_NEWSTYLE | (hflags & FLAG_NO_ZEROES) ;
            ByteBuf out = ctx.alloc().buffer(4 + 16);
            out.writeInt(cflags);
            out.writeLong(IHAVEOPT).writeInt(OPT_STRUCTURED_REPLY).writeInt(0);
            ctx.writeAndFlush(out);
            step = 1;
            return true;
        }

        private void sendGo(ChannelHandlerContext ctx) {
            byte[] name = uri.export().getBytes(StandardCharsets.UTF_8);
            ByteBuf out = ctx.alloc().buffer(16 + 4 + name.length + 2 + 2);
            out.writeLong(IHAVEOPT).writeInt(OPT_GO).writeInt(4 + name.length + 2 + 2);
            out.writeInt(name.length).writeBytes(name).writeShort(1).writeShort(INFO_BLOCK_SIZE);
            ctx.writeAndFlush(out);
        }

        private boolean optionReply(ChannelHandlerContext ctx) {
            if (in.readableBytes() < 20) {
                return false;
            }
            long len = in.getUnsignedInt(in.readerIndex() + 16);
            if (len > 1 << 20) {
                throw new ProtocolError("option reply of " + len + " bytes");
            }
            if (in.readableBytes() < 20 + len) {
                return false;
            }
            long magic = in.readLong();
            int opt = in.readInt();
            int type = in.readInt();
            in.readInt();
            ByteBuf data = in.readSlice((int) len);
            if (magic != OPTION_REPLY_MAGIC) {
                throw new ProtocolError("bad option reply magic 0x" + Long.toHexString(magic));
            }
            if (step == 1) {
                if (opt != OPT_STRUCTURED_REPLY) {
                    throw new ProtocolError("reply to " + optionName(opt) + " while waiting for NBD_OPT_STRUCTURED_REPLY");
                }
                structured = type == REP_ACK;
                step = 2;
                sendGo(ctx);
                return true;
            }
            if (opt != OPT_GO) {
                throw new ProtocolError("reply to " + optionName(opt) + " while waiting for NBD_OPT_GO");
            }
            if (type == REP_INFO) {
                if (data.readableBytes() >= 2) {
                    int info = data.readUnsignedShort();
                    if (info == INFO_EXPORT && data.readableBytes() >= 10) {
                        newSize = data.readLong();
                        newFlags = data.readUnsignedShort();
                    } else if (info == INFO_BLOCK_SIZE && data.readableBytes() >= 12) {
                        data.readInt();
                        data.readInt();
                        long max = data.readUnsignedInt();
                        maxPayload = (int) Math.max(512, Math.min(MAX_PAYLOAD, max));
                    }
                }
                return true;
            }
            if (type == REP_ACK) {
                if (newSize < 0) {
                    throw new ProtocolError("NBD_OPT_GO acknowledged without NBD_INFO_EXPORT");
                }
                size = newSize;
                flags = newFlags;
                step = 3;
                if (!structured) {
                    log.debug("{}: {} does not offer structured replies; using simple replies", owner, uri.address());
                }
                ready.complete(ctx.channel());
                return true;
            }
            String message = data.toString(StandardCharsets.UTF_8);
            if (type == REP_ERR_UNKNOWN) {
                throw new ProtocolError("the server has no export '" + uri.export() + "'" + (message.isEmpty() ? "" : ": " + message));
            }
            if (type < 0) {
                throw new ProtocolError("the server refused NBD_OPT_GO (error 0x" + Integer.toHexString(type) + ")"
                        + (message.isEmpty() ? "" : ": " + message));
            }
            return true;   // an unknown non-error reply type: ignore
        }

        private boolean reply(ChannelHandlerContext ctx) {
            if (in.readableBytes() < 4) {
                return false;
            }
            int magic = in.getInt(in.readerIndex());
            if (magic == SIMPLE_REPLY_MAGIC) {
                if (in.readableBytes() < SIMPLE_REPLY_SIZE) {
                    return false;
                }
                int error = in.getInt(in.readerIndex() + 4);
                long cookie = in.getLong(in.readerIndex() + 8);
                Pending p = pending.get(cookie);
                if (p == null) {
                    throw new ProtocolError("simple reply to unknown cookie " + cookie);
                }
                boolean withData = p.type == CMD_READ && error == 0;
                if (withData && in.readableBytes() < SIMPLE_REPLY_SIZE + p.length) {
                    return false;
                }
                in.skipBytes(SIMPLE_REPLY_SIZE);
                if (withData) {
                    ByteBuffer d = p.dst.duplicate();
                    d.clear();
                    in.readBytes(d);
                }
                p.error = error;
                complete(p);
                return true;
            }
            if (magic != STRUCTURED_REPLY_MAGIC) {
                throw new ProtocolError("bad reply magic 0x" + Integer.toHexString(magic));
            }
            if (in.readableBytes() < CHUNK_HEADER_SIZE) {
                return false;
            }
            int base = in.readerIndex();
            int cflags = in.getUnsignedShort(base + 4);
            int type = in.getUnsignedShort(base + 6);
            long cookie = in.getLong(base + 8);
            long length = in.getUnsignedInt(base + 16);
            if (length > MAX_PAYLOAD + 4096L) {
                throw new ProtocolError("reply chunk of " + length + " bytes");
            }
            if (in.readableBytes() < CHUNK_HEADER_SIZE + length) {
                return false;
            }
            in.skipBytes(CHUNK_HEADER_SIZE);
            ByteBuf payload = in.readSlice((int) length);
            Pending p = pending.get(cookie);
            if (p == null) {
                throw new ProtocolError("reply chunk for unknown cookie " + cookie);
            }
            chunk(p, type, payload);
            if ((cflags & REPLY_FLAG_DONE) != 0) {
                complete(p);
            }
            return true;
        }

        private void chunk(Pending p, int type, ByteBuf payload) {
            switch (type) {
                case REPLY_TYPE_NONE:
                    return;
                case REPLY_TYPE_OFFSET_DATA:
                case REPLY_TYPE_OFFSET_HOLE: {
                    boolean hole = type == REPLY_TYPE_OFFSET_HOLE;
                    if (payload.readableBytes() < (hole ? 12 : 8)) {
                        throw new ProtocolError((hole ? "NBD_REPLY_TYPE_OFFSET_HOLE" : "NBD_REPLY_TYPE_OFFSET_DATA") + " chunk of "
                                + payload.readableBytes() + " bytes for " + p.describe() + " (at least " + (hole ? 12 : 8) + ")");
                    }
                    long off = payload.readLong();
                    long n = hole ? payload.readUnsignedInt() : payload.readableBytes();
                    checkRange(p, off, n);
                    ByteBuffer d = p.dst.duplicate();
                    d.clear().position((int) (off - p.offset)).limit((int) (off - p.offset + n));
                    if (hole) {
                        d.put(ByteBuffer.allocate((int) n));
                    } else {
                        payload.readBytes(d);
                    }
                    return;
                }
                case REPLY_TYPE_ERROR:
                case REPLY_TYPE_ERROR_OFFSET: {
                    if (payload.readableBytes() < 6) {
                        throw new ProtocolError("error chunk of " + payload.readableBytes() + " bytes for " + p.describe() + " (at least 6)");
                    }
                    int error = payload.readInt();
                    int ml = payload.readUnsignedShort();
                    String m = payload.readableBytes() >= ml ? payload.readCharSequence(ml, StandardCharsets.UTF_8).toString() : "";
                    if (p.error == 0) {
                        p.error = error == 0 ? EIO : error;
                        p.message = m;
                    }
                    return;
                }
                default:
                    if ((type & (1 << 15)) != 0) {
                        if (p.error == 0) {
                            p.error = EIO;
                            p.message = "unknown error chunk type " + type;
                        }
                    }
                    // unknown non-error chunks are ignored (the protocol allows it)
            }
        }

        private void checkRange(Pending p, long off, long n) {
            // By subtraction: a hostile offset near 2^63 must not overflow past the check.
            if (p.type != CMD_READ || off < p.offset || off - p.offset > p.length || n > p.length - (off - p.offset)) {
                throw new ProtocolError("chunk at " + off + "+" + n + " outside " + p.describe());
            }
        }
    }

    private static final class ProtocolError extends RuntimeException {
        private static final long serialVersionUID = 1L;

        ProtocolError(String m) {
            super(m, null, false, false);
        }
    }
}
