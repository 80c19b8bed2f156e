package io.jvmm.devices.nbd;

import static io.jvmm.devices.nbd.NbdProtocol.*;

import io.jvmm.devices.blk.BlockExtent;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.util.concurrent.ScheduledFuture;
import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One client connection of an {@link NbdServer}: fixed newstyle negotiation, then transmission.
 * Options and commands are dispatched through tables ({@link #OPTIONS}, {@link #COMMANDS}). Every
 * request runs on the export's back-end asynchronously; replies go out as each completes, so
 * they may be out of order. Everything here runs on the connection's event loop.
 *
 * <p>Bad input gets the protocol's answer: an unknown option {@code NBD_REP_ERR_UNSUP}, a malformed
 * one {@code NBD_REP_ERR_INVALID}, an over-long one {@code NBD_REP_ERR_TOO_BIG} (its data is
 * discarded as it arrives, never buffered); an unknown command or flag, a zero or oversized length
 * {@code EINVAL}; a request past the end {@code EINVAL} (reads) or {@code ENOSPC} (writes); a write
 * to a read-only export {@code EPERM}. A wrong magic number, unknown client flags or a negotiation
 * that does not finish within {@link #HANDSHAKE_TIMEOUT_S} seconds close the connection.
 */
final class NbdServerSession extends ChannelInboundHandlerAdapter {
    private static final Logger log = LoggerFactory.getLogger(NbdServerSession.class);
    static final int HANDSHAKE_TIMEOUT_S = 10;
    /** Option data we read into memory; longer options are answered NBD_REP_ERR_TOO_BIG and skipped. */
    static final int MAX_OPTION_DATA = 64 * 1024;
    /** Requests in flight per connection before we stop reading from the socket. */
    static final int MAX_IN_FLIGHT = 64;
    static final long MAX_BYTES_IN_FLIGHT = 128L << 20;
    static final int META_CONTEXT_ID = 1;
    static final int PREFERRED_BLOCK = 4096;

    private enum State { CLIENT_FLAGS, OPTION_HEADER, OPTION_DATA, OPTION_SKIP, REQUEST, WRITE_DATA, WRITE_SKIP, CLOSED }

    @FunctionalInterface
    private interface OptionHandler {
        void handle(NbdServerSession s, int option, ByteBuf data);
    }

    @FunctionalInterface
    private interface CommandHandler {
        CompletableFuture<Reply> handle(NbdServerSession s, Request r, ByteBuf payload);
    }

    /** A command: which flags it allows, whether a payload follows the header, how it runs. */
    private record Command(int allowedFlags, boolean writes, CommandHandler handler) {
    }

    private static final Map<Integer, OptionHandler> OPTIONS = Map.of(
            OPT_EXPORT_NAME, NbdServerSession::optExportName,
            OPT_ABORT, NbdServerSession::optAbort,
            OPT_LIST, NbdServerSession::optList,
            OPT_INFO, NbdServerSession::optInfoOrGo,
            OPT_GO, NbdServerSession::optInfoOrGo,
            OPT_STRUCTURED_REPLY, NbdServerSession::optStructuredReply,
            OPT_LIST_META_CONTEXT, NbdServerSession::optMetaContext,
            OPT_SET_META_CONTEXT, NbdServerSession::optMetaContext);

    private static final Map<Integer, Command> COMMANDS = Map.of(
            CMD_READ, new Command(CMD_FLAG_DF, false, NbdServerSession::cmdRead),
            CMD_WRITE, new Command(CMD_FLAG_FUA, true, NbdServerSession::cmdWrite),
            CMD_FLUSH, new Command(0, false, NbdServerSession::cmdFlush),
            CMD_TRIM, new Command(CMD_FLAG_FUA, true, NbdServerSession::cmdTrim),
            CMD_WRITE_ZEROES, new Command(CMD_FLAG_FUA | CMD_FLAG_NO_HOLE | CMD_FLAG_FAST_ZERO, true, NbdServerSession::cmdWriteZeroes),
            CMD_BLOCK_STATUS, new Command(CMD_FLAG_REQ_ONE, false, NbdServerSession::cmdBlockStatus));

    private record Request(int flags, int type, long cookie, long offset, long length) {
        String describe() {
            return commandName(type) + " offset " + offset + " length " + length;
        }
    }

    /** A reply: an error code, or data (READ), or extents (BLOCK_STATUS). */
    private record Reply(int error, String message, ByteBuf data, List<BlockExtent> extents) {
        static Reply ok() {
            return new Reply(0, null, null, null);
        }

        static Reply error(int error, String message) {
            return new Reply(error, message, null, null);
        }
    }

    private final NbdServer server;
    private final String name;
    private ChannelHandlerContext ctx;
    private ByteBuf in;
    private State state = State.CLIENT_FLAGS;
    private ScheduledFuture<?> handshakeTimer;
    private boolean noZeroes;
    private boolean structured;
    private String metaExport;   // the export SET_META_CONTEXT selected base:allocation for, or null
    private NbdExport export;
    // option in progress
    private int option;
    private long optionLength;
    // request in progress / skipping
    private Request pending;
    private Reply pendingError;
    private long skipRemaining;
    private int inFlight;
    private long bytesInFlight;
    private boolean disconnecting;
    private boolean readPaused;

    NbdServerSession(NbdServer server, String name) {
        this.server = server;
        this.name = name;
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        this.ctx = ctx;
        this.in = ctx.alloc().buffer(4096);
        log.debug("NBD {}: connection from {}", name, ctx.channel().remoteAddress());
        ByteBuf g = ctx.alloc().buffer(18);
        g.writeLong(NBDMAGIC).writeLong(IHAVEOPT).writeShort(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES);
        ctx.writeAndFlush(g);
        handshakeTimer = ctx.executor().schedule(() -> {
            if (state != State.REQUEST && state != State.WRITE_DATA && state != State.WRITE_SKIP && state != State.CLOSED) {
                abort("the negotiation did not finish within " + HANDSHAKE_TIMEOUT_S + " s");
            }
        }, HANDSHAKE_TIMEOUT_S, TimeUnit.SECONDS);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        state = State.CLOSED;
        if (handshakeTimer != null) {
            handshakeTimer.cancel(false);
        }
        if (in != null) {
            in.release();
            in = null;
        }
        log.debug("NBD {}: connection closed ({} requests in flight)", name, inFlight);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        if (cause instanceof IOException) {
            log.debug("NBD {}: {}", name, cause.toString());
        } else {
            server.metrics().internalErrors.incrementAndGet();
            log.warn("NBD {}: closing the connection after an internal error", name, cause);
        }
        close();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        ByteBuf b = (ByteBuf) msg;
        try {
            if (state == State.CLOSED || in == null) {
                return;
            }
            in.writeBytes(b);
        } finally {
            b.release();
        }
        process();
    }

    /** Consumes what the buffer holds, as far as the state allows. */
    private void process() {
        while (in != null && state != State.CLOSED && !readPaused) {
            boolean progressed;
            switch (state) {
                case CLIENT_FLAGS -> progressed = clientFlags();
                case OPTION_HEADER -> progressed = optionHeader();
                case OPTION_DATA -> progressed = optionData();
                case OPTION_SKIP, WRITE_SKIP -> progressed = skip();
                case REQUEST -> progressed = request();
                case WRITE_DATA -> progressed = writeData();
                default -> progressed = false;
            }
            if (!progressed) {
                break;
            }
        }
        if (in != null) {
            in.discardSomeReadBytes();
        }
    }

    // ------------------------------------------------------------------ negotiation

    private boolean clientFlags() {
        if (in.readableBytes() < 4) {
            return false;
        }
        int flags = in.readInt();
        if ((flags & ~(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES)) != 0) {
            abort("unknown client flags 0x" + Integer.toHexString(flags));
            return false;
        }
        noZeroes = (flags & FLAG_C_NO_ZEROES) != 0;
        state = State.OPTION_HEADER;
        return true;
    }

    private boolean optionHeader() {
        if (in.readableBytes() < 16) {
            return false;
        }
        long magic = in.readLong();
        if (magic != IHAVEOPT) {
            abort("option magic 0x" + Long.toHexString(magic) + " is not IHAVEOPT");
            return false;
        }
        option = in.readInt();
        optionLength = in.readUnsignedInt();
        if (optionLength > MAX_OPTION_DATA) {
            if (option == OPT_EXPORT_NAME) {
                abort("NBD_OPT_EXPORT_NAME of " + optionLength + " bytes");
                return false;
            }
            optionReply(option, REP_ERR_TOO_BIG, "option data of " + optionLength + " bytes exceeds " + MAX_OPTION_DATA);
            skipRemaining = optionLength;
            state = State.OPTION_SKIP;
            return true;
        }
        state = State.OPTION_DATA;
        return true;
    }

    private boolean optionData() {
        if (in.readableBytes() < optionLength) {
            return false;
        }
        ByteBuf data = in.readRetainedSlice((int) optionLength);
        state = State.OPTION_HEADER;
        try {
            OptionHandler h = OPTIONS.get(option);
            if (h == null) {
                log.debug("NBD {}: unsupported {}", name, optionName(option));
                optionReply(option, REP_ERR_UNSUP, optionName(option) + " is not supported");
            } else {
                h.handle(this, option, data);
            }
        } finally {
            data.release();
        }
        return true;
    }

    private boolean skip() {
        int n = (int) Math.min(in.readableBytes(), skipRemaining);
        in.skipBytes(n);
        skipRemaining -= n;
        if (skipRemaining > 0) {
            return false;
        }
        if (state == State.WRITE_SKIP) {
            state = State.REQUEST;
            Request r = pending;
            Reply e = pendingError;
            pending = null;
            pendingError = null;
            inFlight++;
            finish(r, e);
        } else {
            state = State.OPTION_HEADER;
        }
        return true;
    }

    private void optExportName(int opt, ByteBuf data) {
        String exportName = string(data, data.readableBytes());
        NbdExport e = exportName == null ? null : server.export(exportName);
        if (e == null || !server.attach(e, ctx.channel())) {
            abort("NBD_OPT_EXPORT_NAME '" + exportName + "': no such export");
            return;
        }
        ByteBuf b = ctx.alloc().buffer(10 + 124);
        b.writeLong(e.backend().size()).writeShort(e.transmissionFlags(structured));
        if (!noZeroes) {
            b.writeZero(124);
        }
        ctx.writeAndFlush(b);
        enterTransmission(e);
    }

    private void optAbort(int opt, ByteBuf data) {
        optionReply(opt, REP_ACK, (ByteBuf) null);
        close();
    }

    private void optList(int opt, ByteBuf data) {
        if (data.isReadable()) {
            optionReply(opt, REP_ERR_INVALID, "NBD_OPT_LIST takes no data");
            return;
        }
        for (NbdExport e : server.sortedExports()) {
            byte[] n = e.name().getBytes(StandardCharsets.UTF_8);
            byte[] d = e.description() == null ? new byte[0] : e.description().getBytes(StandardCharsets.UTF_8);
            ByteBuf b = ctx.alloc().buffer(4 + n.length + d.length);
            b.writeInt(n.length).writeBytes(n).writeBytes(d);
            optionReply(opt, REP_SERVER, b);
        }
        optionReply(opt, REP_ACK, (ByteBuf) null);
    }

    private void optStructuredReply(int opt, ByteBuf data) {
        if (data.isReadable()) {
            optionReply(opt, REP_ERR_INVALID, "NBD_OPT_STRUCTURED_REPLY takes no data");
        } else if (structured) {
            optionReply(opt, REP_ERR_INVALID, "structured replies are already negotiated");
        } else {
            structured = true;
            optionReply(opt, REP_ACK, (ByteBuf) null);
        }
    }

    private void optInfoOrGo(int opt, ByteBuf data) {
        if (data.readableBytes() < 4) {
            optionReply(opt, REP_ERR_INVALID, optionName(opt) + " data too short");
            return;
        }
        long nameLength = data.readUnsignedInt();
        if (nameLength > data.readableBytes() - 2 || nameLength > MAX_STRING) {
            optionReply(opt, REP_ERR_INVALID, optionName(opt) + ": name length " + nameLength + " does not fit the option");
            return;
        }
        String exportName = string(data, (int) nameLength);
        int requests = data.readUnsignedShort();
        if (data.readableBytes() != requests * 2) {
            optionReply(opt, REP_ERR_INVALID, optionName(opt) + ": " + requests + " information requests need "
                    + requests * 2 + " bytes, the option has " + data.readableBytes());
            return;
        }
        if (exportName == null) {
            optionReply(opt, REP_ERR_INVALID, "the export name is not valid UTF-8");
            return;
        }
        NbdExport e = server.export(exportName);
        if (e == null || (opt == OPT_GO && !server.attach(e, ctx.channel()))) {
            optionReply(opt, REP_ERR_UNKNOWN, "no export named '" + exportName + "'");
            return;
        }
        boolean wantName = false;
        boolean wantDescription = false;
        for (int i = 0; i < requests; i++) {
            int t = data.readUnsignedShort();
            wantName |= t == INFO_NAME;
            wantDescription |= t == INFO_DESCRIPTION;
        }
        ByteBuf info = ctx.alloc().buffer(12);
        info.writeShort(INFO_EXPORT).writeLong(e.backend().size()).writeShort(e.transmissionFlags(structured));
        optionReply(opt, REP_INFO, info);
        if (wantName) {
            byte[] n = e.name().getBytes(StandardCharsets.UTF_8);
            optionReply(opt, REP_INFO, ctx.alloc().buffer(2 + n.length).writeShort(INFO_NAME).writeBytes(n));
        }
        if (wantDescription && e.description() != null) {
            byte[] d = e.description().getBytes(StandardCharsets.UTF_8);
            optionReply(opt, REP_INFO, ctx.alloc().buffer(2 + d.length).writeShort(INFO_DESCRIPTION).writeBytes(d));
        }
        ByteBuf bs = ctx.alloc().buffer(14);
        bs.writeShort(INFO_BLOCK_SIZE).writeInt(1).writeInt(PREFERRED_BLOCK).writeInt(MAX_PAYLOAD);
        optionReply(opt, REP_INFO, bs);
        optionReply(opt, REP_ACK, (ByteBuf) null);
        if (opt == OPT_GO) {
            enterTransmission(e);
        }
    }

    private void optMetaContext(int opt, ByteBuf data) {
        String what = optionName(opt);
        if (!structured) {
            optionReply(opt, REP_ERR_INVALID, what + " needs structured replies first");
            return;
        }
        if (data.readableBytes() < 8) {
            optionReply(opt, REP_ERR_INVALID, what + " data too short");
            return;
        }
        long nameLength = data.readUnsignedInt();
        if (nameLength > data.readableBytes() - 4 || nameLength > MAX_STRING) {
            optionReply(opt, REP_ERR_INVALID, what + ": name length " + nameLength + " does not fit the option");
            return;
        }
        String exportName = string(data, (int) nameLength);
        long queries = data.readUnsignedInt();
        boolean any = false;
        boolean valid = true;
        for (long i = 0; i < queries && valid; i++) {
            if (data.readableBytes() < 4) {
                valid = false;
                break;
            }
            long ql = data.readUnsignedInt();
            if (ql > data.readableBytes()) {
                valid = false;
                break;
            }
            String q = string(data, (int) ql);
            if (q == null || !q.contains(":")) {
                valid = false;
                break;
            }
            any |= q.equals(BASE_ALLOCATION) || (opt == OPT_LIST_META_CONTEXT && q.equals("base:"));
        }
        if (!valid || data.isReadable() || exportName == null) {
            optionReply(opt, REP_ERR_INVALID, what + ": malformed queries");
            return;
        }
        if (server.export(exportName) == null) {
            optionReply(opt, REP_ERR_UNKNOWN, "no export named '" + exportName + "'");
            return;
        }
        boolean selected = any || (queries == 0 && opt == OPT_LIST_META_CONTEXT);
        if (opt == OPT_SET_META_CONTEXT) {
            metaExport = selected ? exportName : null;
        }
        if (selected) {
            byte[] n = BASE_ALLOCATION.getBytes(StandardCharsets.US_ASCII);
            ByteBuf b = ctx.alloc().buffer(4 + n.length);
            b.writeInt(opt == OPT_SET_META_CONTEXT ? META_CONTEXT_ID : 0).writeBytes(n);
            optionReply(opt, REP_META_CONTEXT, b);
        }
        optionReply(opt, REP_ACK, (ByteBuf) null);
    }

    private void optionReply(int opt, int type, String message) {
        ByteBuf data = null;
        if (message != null) {
            data = Unpooled.copiedBuffer(message, StandardCharsets.UTF_8);
        }
        optionReply(opt, type, data);
    }

    private void optionReply(int opt, int type, ByteBuf data) {
        int length = data == null ? 0 : data.readableBytes();
        ByteBuf h = ctx.alloc().buffer(20);
        h.writeLong(OPTION_REPLY_MAGIC).writeInt(opt).writeInt(type).writeInt(length);
        if (data == null) {
            ctx.writeAndFlush(h);
        } else {
            ctx.writeAndFlush(Unpooled.wrappedBuffer(h, data));
        }
        if (type < 0) {
            log.debug("NBD {}: {} answered with error 0x{}", name, optionName(opt), Integer.toHexString(type));
        }
    }

    private void enterTransmission(NbdExport e) {
        export = e;
        state = State.REQUEST;
        if (handshakeTimer != null) {
            handshakeTimer.cancel(false);
        }
        log.debug("NBD {}: transmission on export '{}' ({}structured replies{})", name, e.name(), structured ? "" : "no ",
                metaExport != null ? ", base:allocation" : "");
    }

    // ------------------------------------------------------------------ transmission

    private boolean request() {
        if (disconnecting) {
            in.skipBytes(in.readableBytes());
            return false;
        }
        if (in.readableBytes() < REQUEST_SIZE) {
            return false;
        }
        int magic = in.readInt();
        if (magic != REQUEST_MAGIC) {
            abort("request magic 0x" + Integer.toHexString(magic) + " is not NBD_REQUEST_MAGIC");
            return false;
        }
        int flags = in.readUnsignedShort();
        int type = in.readUnsignedShort();
        long cookie = in.readLong();
        long offset = in.readLong();
        long length = in.readUnsignedInt();
        Request r = new Request(flags, type, cookie, offset, length);
        server.metrics().requests.incrementAndGet();
        if (type == CMD_DISC) {
            disconnecting = true;
            log.debug("NBD {}: NBD_CMD_DISC with {} requests in flight", name, inFlight);
            if (inFlight == 0) {
                close();
            }
            return false;
        }
        Command c = COMMANDS.get(type);
        Reply refusal = check(r, c);
        if (type == CMD_WRITE) {
            if (refusal != null || length > MAX_PAYLOAD) {
                pending = r;
                pendingError = refusal != null ? refusal : Reply.error(EINVAL, "write of " + length + " bytes exceeds " + MAX_PAYLOAD);
                skipRemaining = length;
                state = State.WRITE_SKIP;
                return true;
            }
            pending = r;
            state = State.WRITE_DATA;
            return true;
        }
        inFlight++;
        if (refusal != null) {
            finish(r, refusal);
            return true;
        }
        start(r, c, null);
        return true;
    }

    /** Why a request is refused before it runs, or null. */
    private Reply check(Request r, Command c) {
        if (c == null) {
            return Reply.error(EINVAL, commandName(r.type) + " is not supported");
        }
        int allowed = c.allowedFlags;
        if (r.type == CMD_READ && !structured) {
            allowed &= ~CMD_FLAG_DF;
        }
        if ((r.flags & ~allowed) != 0) {
            return Reply.error(EINVAL, "flags 0x" + Integer.toHexString(r.flags) + " are not valid for " + commandName(r.type));
        }
        if (c.writes && !export.writable()) {
            return Reply.error(EPERM, "export '" + export.name() + "' is read-only");
        }
        if (r.type == CMD_FLUSH) {
            return r.offset == 0 && r.length == 0 ? null : Reply.error(EINVAL, "NBD_CMD_FLUSH with an offset or length");
        }
        if (r.type == CMD_BLOCK_STATUS && !(structured && export.name().equals(metaExport))) {
            return Reply.error(EINVAL, "NBD_CMD_BLOCK_STATUS without a negotiated meta context");
        }
        if (r.length == 0) {
            return Reply.error(EINVAL, r.describe() + ": zero length");
        }
        if ((r.type == CMD_READ || r.type == CMD_WRITE) && r.length > MAX_PAYLOAD) {
            return Reply.error(EINVAL, commandName(r.type) + " of " + r.length + " bytes exceeds " + MAX_PAYLOAD);
        }
        long size = export.backend().size();
        if (r.offset < 0 || r.offset > size || r.length > size - r.offset) {
            boolean write = r.type == CMD_WRITE || r.type == CMD_WRITE_ZEROES || r.type == CMD_TRIM;
            return Reply.error(write ? ENOSPC : EINVAL, r.describe() + " is past the end of the export (" + size + " bytes)");
        }
        if (r.type == CMD_WRITE_ZEROES && (r.flags & CMD_FLAG_FAST_ZERO) != 0 && !export.backend().fastZeroes()) {
            return Reply.error(ENOTSUP, "zeroes on " + export.backend().describe() + " are not fast");
        }
        return null;
    }

    private boolean writeData() {
        if (in.readableBytes() < pending.length) {
            return false;
        }
        ByteBuf payload = ctx.alloc().directBuffer((int) pending.length);
        in.readBytes(payload, (int) pending.length);
        Request r = pending;
        pending = null;
        state = State.REQUEST;
        inFlight++;
        start(r, COMMANDS.get(CMD_WRITE), payload);
        return true;
    }

    private void start(Request r, Command c, ByteBuf payload) {
        bytesInFlight += r.type == CMD_READ || r.type == CMD_WRITE ? r.length : 0;
        if (inFlight >= MAX_IN_FLIGHT || bytesInFlight >= MAX_BYTES_IN_FLIGHT) {
            pauseReading();
        }
        CompletableFuture<Reply> f;
        try {
            f = c.handler.handle(this, r, payload);
        } catch (RuntimeException e) {
            server.metrics().internalErrors.incrementAndGet();
            f = CompletableFuture.failedFuture(e);
        }
        f.whenComplete((reply, error) -> ctx.executor().execute(() -> {
            if (payload != null) {
                payload.release();
            }
            bytesInFlight -= r.type == CMD_READ || r.type == CMD_WRITE ? r.length : 0;
            Reply rep = reply;
            if (error != null) {
                Throwable cause = error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
                log.warn("NBD {}: {} on {} failed: {}", name, r.describe(), export.backend().describe(), cause.toString());
                rep = Reply.error(EIO, cause.getMessage() == null ? cause.toString() : cause.getMessage());
            }
            finish(r, rep);
        }));
    }

    /** Sends the reply of a request that was counted in flight; on the loop. */
    private void finish(Request r, Reply reply) {
        inFlight--;
        if (ctx.channel().isActive()) {
            send(r, reply);
        } else if (reply.data != null) {
            reply.data.release();
        }
        if (reply.error != 0) {
            server.metrics().errors.incrementAndGet();
            log.debug("NBD {}: {} -> {} ({})", name, r.describe(), errorName(reply.error), reply.message);
        }
        if (disconnecting && inFlight == 0) {
            close();
        } else if (readPaused && inFlight < MAX_IN_FLIGHT / 2 && bytesInFlight < MAX_BYTES_IN_FLIGHT / 2) {
            readPaused = false;
            ctx.channel().config().setAutoRead(true);
            process();
        }
    }

    private void pauseReading() {
        if (!readPaused) {
            readPaused = true;
            ctx.channel().config().setAutoRead(false);
        }
    }

    private void send(Request r, Reply reply) {
        ByteBufAllocator a = ctx.alloc();
        boolean chunked = structured && (r.type == CMD_READ || r.type == CMD_BLOCK_STATUS);
        if (!chunked) {
            ByteBuf h = a.buffer(SIMPLE_REPLY_SIZE);
            h.writeInt(SIMPLE_REPLY_MAGIC).writeInt(reply.error).writeLong(r.cookie);
            ctx.writeAndFlush(reply.data == null ? h : Unpooled.wrappedBuffer(h, reply.data));
            return;
        }
        if (reply.error != 0) {
            byte[] m = reply.message == null ? new byte[0] : reply.message.getBytes(StandardCharsets.UTF_8);
            int ml = Math.min(m.length, MAX_STRING);
            ByteBuf h = a.buffer(CHUNK_HEADER_SIZE + 6 + ml);
            h.writeInt(STRUCTURED_REPLY_MAGIC).writeShort(REPLY_FLAG_DONE).writeShort(REPLY_TYPE_ERROR).writeLong(r.cookie)
                    .writeInt(6 + ml).writeInt(reply.error).writeShort(ml).writeBytes(m, 0, ml);
            ctx.writeAndFlush(h);
            return;
        }
        if (r.type == CMD_READ) {
            ByteBuf h = a.buffer(CHUNK_HEADER_SIZE + 8);
            h.writeInt(STRUCTURED_REPLY_MAGIC).writeShort(REPLY_FLAG_DONE).writeShort(REPLY_TYPE_OFFSET_DATA).writeLong(r.cookie)
                    .writeInt(8 + reply.data.readableBytes()).writeLong(r.offset);
            ctx.writeAndFlush(Unpooled.wrappedBuffer(h, reply.data));
            return;
        }
        List<BlockExtent> extents = reply.extents;
        ByteBuf h = a.buffer(CHUNK_HEADER_SIZE + 4 + 8 * extents.size());
        h.writeInt(STRUCTURED_REPLY_MAGIC).writeShort(REPLY_FLAG_DONE).writeShort(REPLY_TYPE_BLOCK_STATUS).writeLong(r.cookie)
                .writeInt(4 + 8 * extents.size()).writeInt(META_CONTEXT_ID);
        for (BlockExtent e : extents) {
            h.writeInt((int) e.length()).writeInt((e.hole() ? STATE_HOLE : 0) | (e.zero() ? STATE_ZERO : 0));
        }
        ctx.writeAndFlush(h);
    }

    // ------------------------------------------------------------------ commands

    private CompletableFuture<Reply> cmdRead(Request r, ByteBuf unused) {
        ByteBuf data = ctx.alloc().directBuffer((int) r.length);
        data.writerIndex((int) r.length);
        return export.backend().read(data.nioBuffer(0, (int) r.length), r.offset).handle((x, e) -> {
            if (e != null) {
                data.release();
                throw e instanceof CompletionException ce ? ce : new CompletionException(e);
            }
            server.metrics().bytesRead.addAndGet(r.length);
            return new Reply(0, null, data, null);
        });
    }

    private CompletableFuture<Reply> cmdWrite(Request r, ByteBuf payload) {
        server.metrics().bytesWritten.addAndGet(r.length);
        return export.backend().write(payload.nioBuffer(), r.offset, (r.flags & CMD_FLAG_FUA) != 0).thenApply(x -> Reply.ok());
    }

    private CompletableFuture<Reply> cmdFlush(Request r, ByteBuf unused) {
        return export.backend().flush().thenApply(x -> Reply.ok());
    }

    private CompletableFuture<Reply> cmdTrim(Request r, ByteBuf unused) {
        CompletableFuture<Void> f = export.backend().discard(r.offset, r.length);
        return fua(r, f).thenApply(x -> Reply.ok());
    }

    private CompletableFuture<Reply> cmdWriteZeroes(Request r, ByteBuf unused) {
        boolean mayUnmap = (r.flags & CMD_FLAG_NO_HOLE) == 0;
        CompletableFuture<Void> f = export.backend().writeZeroes(r.offset, r.length, mayUnmap);
        return fua(r, f).thenApply(x -> Reply.ok());
    }

    private CompletableFuture<Void> fua(Request r, CompletableFuture<Void> f) {
        return (r.flags & CMD_FLAG_FUA) != 0 ? f.thenCompose(x -> export.backend().flush()) : f;
    }

    private CompletableFuture<Reply> cmdBlockStatus(Request r, ByteBuf unused) {
        return export.backend().blockStatus(r.offset, r.length).thenApply(list -> {
            List<BlockExtent> out = new java.util.ArrayList<>();
            long left = r.length;
            for (BlockExtent e : list) {
                if (left <= 0) {
                    break;
                }
                long n = Math.min(e.length(), left);
                out.add(new BlockExtent(n, e.hole(), e.zero()));
                left -= n;
                if ((r.flags & CMD_FLAG_REQ_ONE) != 0) {
                    break;
                }
            }
            if (out.isEmpty()) {
                out.add(BlockExtent.data(r.length));
            }
            return new Reply(0, null, null, out);
        });
    }

    // ------------------------------------------------------------------ helpers

    private static String string(ByteBuf b, int length) {
        ByteBuf s = b.readSlice(length);
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(s.nioBuffer()).toString();
        } catch (CharacterCodingException e) {
            return null;
        }
    }

    /** Ends the connection after a protocol violation (logged with the reason). */
    private void abort(String reason) {
        log.warn("NBD {}: closing the connection from {}: {}", name, ctx.channel().remoteAddress(), reason);
        close();
    }

    private void close() {
        if (state == State.CLOSED) {
            return;
        }
        state = State.CLOSED;
        ctx.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
    }
}
