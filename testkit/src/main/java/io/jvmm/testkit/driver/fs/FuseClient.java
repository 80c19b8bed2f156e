package io.jvmm.testkit.driver.fs;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.function.Function;
import java.util.function.LongConsumer;

/**
 * A minimal FUSE client speaking to a virtio-fs device, as a guest kernel's FUSE layer would but
 * without mounting anything: INIT, then LOOKUP / GETATTR / OPEN / READ / WRITE / CREATE / MKDIR /
 * UNLINK / FLUSH / RELEASE / OPENDIR / READDIR / RELEASEDIR on request queues, FORGET on the
 * high-priority queue.
 *
 * <p>Every request has an asynchronous form (a future of the decoded reply; several may be in
 * flight) and a synchronous one. Large READs and WRITEs are split into requests of at most
 * {@link #readChunk()} / {@link #writeChunk()} bytes, bounded by what INIT negotiated, with up to
 * {@link #maxInFlight()} in flight. Errors: a server's -errno is a {@link FuseException}; a
 * malformed reply a {@link FuseProtocolException}; a device that stops answering a
 * {@link io.jvmm.testkit.driver.DriverTimeoutException}. Not thread-safe: one guest thread.
 *
 * <p>Lookup counts are the caller's business, as in FUSE: each LOOKUP, MKDIR and CREATE reply
 * is one lookup of its node, returned with {@link #forget}.
 */
public final class FuseClient {
    private static final Logger log = LoggerFactory.getLogger(FuseClient.class);

    public static final long ROOT_ID = 1;
    public static final int MAJOR = 7;
    /** 7.31: every struct this client uses has its current layout; later minors add only extensions. */
    public static final int MINOR = 31;
    /** Entry and attribute replies have had their current size since 7.9. */
    public static final int OLDEST_MINOR = 9;
    public static final long WANTED_FLAGS = FuseInitFlags.ASYNC_READ | FuseInitFlags.BIG_WRITES | FuseInitFlags.MAX_PAGES;
    /** FUSE_DEFAULT_MAX_PAGES_PER_REQ: pages per request when the server does not send max_pages. */
    static final int DEFAULT_MAX_PAGES = 32;
    /** fuse_init_out.max_pages (and FUSE_MAX_PAGES) arrived in 7.28. */
    static final int MAX_PAGES_MINOR = 28;
    static final int DEFAULT_MAX_READAHEAD = 128 * 1024;
    static final int O_RDONLY = 0;

    private final VirtioFsDriver fs;
    private final FuseCredentials who;
    private long nextUnique = 2;   // step 2: Linux keeps the low bit for INTERRUPT requests
    private FuseSession session;
    private int readChunk = 128 * 1024;
    private int writeChunk = 128 * 1024;
    private int maxInFlight = 4;
    private LongConsumer readProgress = bytes -> { };

    public FuseClient(VirtioFsDriver fs) {
        this(fs, FuseCredentials.ROOT);
    }

    public FuseClient(VirtioFsDriver fs, FuseCredentials who) {
        this.fs = Objects.requireNonNull(fs, "fs");
        this.who = Objects.requireNonNull(who, "who");
    }

    public VirtioFsDriver driver() {
        return fs;
    }

    // ---- session -------------------------------------------------------------------------------

    /** INIT with this client's version, wanted flags and read-ahead. */
    public FuseSession init() {
        return init(WANTED_FLAGS, DEFAULT_MAX_READAHEAD);
    }

    /**
     * Sends INIT (first request after every device initialisation) and records what was agreed.
     *
     * @throws FuseProtocolException if the server speaks another major version, a minor older than
     *     7.{@value #OLDEST_MINOR}, or answers with a malformed fuse_init_out
     */
    public FuseSession init(long flags, int maxReadahead) {
        FuseRequest request = FuseRequests.init(MAJOR, MINOR, maxReadahead, flags);
        session = null;
        FuseInitOut out = fs.await(send(request, FuseInitOut::decode));
        if (out.major() != MAJOR) {
            throw new FuseProtocolException(String.format("FUSE INIT: the server speaks protocol %d.%d, this client %d.%d",
                    out.major(), out.minor(), MAJOR, MINOR));
        }
        if (out.minor() < OLDEST_MINOR) {
            throw new FuseProtocolException(String.format("FUSE INIT: the server speaks 7.%d, older than the 7.%d this client needs",
                    out.minor(), OLDEST_MINOR));
        }
        long agreed = out.flags() & flags;
        if (out.minor() < MAX_PAGES_MINOR) {
            agreed &= ~FuseInitFlags.MAX_PAGES;   // the bit means nothing before max_pages existed
        }
        int maxPages = (agreed & FuseInitFlags.MAX_PAGES) != 0 ? Math.max(1, out.maxPages()) : DEFAULT_MAX_PAGES;
        session = new FuseSession(MAJOR, Math.min(MINOR, out.minor()), agreed, Math.min(maxReadahead, out.maxReadahead()),
                Math.max(FuseSession.PAGE, out.maxWrite()), maxPages, out.timeGran(), out.maxBackground(), fs.initializations());
        log.debug("{}: {}", fs.device(), session);
        return session;
    }

    /**
     * The session INIT agreed on.
     *
     * @throws IllegalStateException if there is none, or the device was reset since
     */
    public FuseSession session() {
        if (session == null) {
            throw new IllegalStateException(fs.device() + ": no FUSE session: send INIT first");
        }
        if (session.initialization() != fs.initializations() || !fs.initialized()) {
            throw new IllegalStateException(fs.device() + ": the device was reset since INIT: initialise it and send INIT again");
        }
        return session;
    }

    public int readChunk() {
        return Math.min(readChunk, session().maxRequestBytes());
    }

    /** Largest READ request (clipped to what INIT allows). */
    public void setReadChunk(int bytes) {
        if (bytes < FuseSession.PAGE) {
            throw new IllegalArgumentException("read chunk " + bytes + " is below one page");
        }
        this.readChunk = bytes;
    }

    public int writeChunk() {
        FuseSession s = session();
        return Math.min(writeChunk, Math.min(s.maxWrite(), s.maxRequestBytes()));
    }

    /** Largest WRITE request (clipped to max_write and max_pages). */
    public void setWriteChunk(int bytes) {
        if (bytes < 1) {
            throw new IllegalArgumentException("write chunk " + bytes + " must be positive");
        }
        this.writeChunk = bytes;
    }

    public int maxInFlight() {
        return maxInFlight;
    }

    /**
     * Called on the guest thread each time a {@link #read} has received its next chunk, with the
     * bytes received so far: lets a test act at an exact point of a transfer in progress.
     */
    public void setReadProgress(LongConsumer listener) {
        this.readProgress = Objects.requireNonNull(listener, "listener");
    }

    /** How many READ/WRITE requests one large transfer keeps in flight. */
    public void setMaxInFlight(int n) {
        if (n < 1) {
            throw new IllegalArgumentException("max in flight " + n + " must be at least 1");
        }
        this.maxInFlight = n;
    }

    // ---- the asynchronous core ---------------------------------------------------------------------

    /**
     * Sends {@code request} on a request queue; the future completes with the validated reply
     * (see {@link FuseReply#parse}) or fails with its exception.
     */
    public CompletableFuture<FuseReply> submit(FuseRequest request) {
        if (!request.expectsReply()) {
            throw new IllegalArgumentException(request + " has no reply: use submitForget");
        }
        if (request.opcode() != FuseOpcode.INIT) {
            session();
        }
        long unique = takeUnique();
        log.trace("{}: {} unique {}", fs.device(), request, unique);
        return fs.submit(request.toTransport(unique, who)).thenApply(r -> FuseReply.parse(r, request, unique));
    }

    /** Sends {@code request} and decodes its body; a decoding failure names the request. */
    public <T> CompletableFuture<T> send(FuseRequest request, Function<byte[], T> decoder) {
        return submit(request).thenApply(reply -> {
            try {
                return decoder.apply(reply.body());
            } catch (FuseProtocolException e) {
                throw new FuseProtocolException("FUSE " + request + ": " + e.getMessage());
            }
        });
    }

    private long takeUnique() {
        long u = nextUnique;
        nextUnique += 2;
        return u;
    }

    /** Drives the device until {@code future} completes; rethrows its failure as it is. */
    public <T> T await(CompletableFuture<T> future) {
        return fs.await(future);
    }

    /** Header-only replies: the transport offered no body buffer, so none can arrive. */
    private static Void none(byte[] body) {
        return null;
    }

    // ---- requests ----------------------------------------------------------------------------------

    /**
     * LOOKUP of {@code name} in directory {@code parent}: one more lookup of the node it returns.
     *
     * @throws FuseException ENOENT also for a negative entry (node id 0), as Linux takes it
     */
    public FuseEntryOut lookup(long parent, String name) {
        FuseRequest request = FuseRequests.lookup(parent, name);
        FuseEntryOut entry = await(send(request, FuseEntryOut::decode));
        if (entry.nodeId() == 0) {
            throw new FuseException(FuseOpcode.LOOKUP, request + " (negative entry)", Errno.ENOENT);
        }
        return entry;
    }

    /**
     * LOOKUP of each component of {@code path} (relative to the root, '/'-separated), FORGETting
     * each intermediate directory once its child is found.
     *
     * @return the last component's entry (one lookup of it, for the caller to forget)
     */
    public FuseEntryOut lookupPath(String path) {
        List<String> parts = Arrays.stream(path.split("/")).filter(p -> !p.isEmpty()).toList();
        if (parts.isEmpty()) {
            throw new IllegalArgumentException("path \"" + path + "\" names no file below the root");
        }
        long node = ROOT_ID;
        FuseEntryOut entry = null;
        for (String part : parts) {
            entry = lookup(node, part);
            if (node != ROOT_ID) {
                forget(node, 1);
            }
            node = entry.nodeId();
        }
        return entry;
    }

    public CompletableFuture<FuseAttrOut> submitGetattr(long node) {
        return send(FuseRequests.getattr(node, -1), FuseAttrOut::decode);
    }

    public FuseAttrOut getattr(long node) {
        return await(submitGetattr(node));
    }

    /** OPEN with open(2) flags; the handle is for READ, WRITE, FLUSH and RELEASE. */
    public FuseOpenOut open(long node, int flags) {
        return await(send(FuseRequests.open(node, flags), FuseOpenOut::decode));
    }

    public FuseOpenOut open(long node) {
        return open(node, O_RDONLY);
    }

    /** CREATE and open {@code name} (O_CREAT is added to {@code flags}; umask 0). */
    public FuseCreated create(long parent, String name, int flags, int mode) {
        FuseRequest request = FuseRequests.create(parent, name, flags | 0100, mode, 0);
        FuseCreated created = await(send(request, FuseCreated::decode));
        requireNode(request, created.entry());
        return created;
    }

    /** MKDIR {@code name} with {@code mode} (umask 0). */
    public FuseEntryOut mkdir(long parent, String name, int mode) {
        FuseRequest request = FuseRequests.mkdir(parent, name, mode, 0);
        return requireNode(request, await(send(request, FuseEntryOut::decode)));
    }

    private static FuseEntryOut requireNode(FuseRequest request, FuseEntryOut entry) {
        if (entry.nodeId() == 0) {
            throw new FuseProtocolException("FUSE " + request + ": the server created a node but returned node id 0");
        }
        return entry;
    }

    public void unlink(long parent, String name) {
        await(send(FuseRequests.unlink(parent, name), FuseClient::none));
    }

    public void flush(long node, long fh) {
        await(send(FuseRequests.flush(node, fh, 0), FuseClient::none));
    }

    public void release(long node, long fh, int flags) {
        await(send(FuseRequests.release(node, fh, flags), FuseClient::none));
    }

    public void release(long node, long fh) {
        release(node, fh, O_RDONLY);
    }

    /**
     * FORGET on the high-priority queue; the future completes when the device has returned the
     * buffer (there is no reply).
     */
    public CompletableFuture<Void> submitForget(long node, long nlookup) {
        session();
        FuseRequest request = FuseRequests.forget(node, nlookup);
        long unique = takeUnique();
        return fs.submitHighPriority(request.toTransport(unique, who)).thenAccept(r -> FuseReply.requireNoReply(r, request, unique));
    }

    public void forget(long node, long nlookup) {
        await(submitForget(node, nlookup));
    }

    // ---- data ------------------------------------------------------------------------------------

    /** One READ request of up to {@link #readChunk()} bytes; the data may be shorter at end of file. */
    public CompletableFuture<byte[]> submitRead(long node, long fh, long offset, int size) {
        if (size > readChunk()) {
            throw new IllegalArgumentException("READ of " + size + " bytes exceeds the chunk of " + readChunk() + "; use read()");
        }
        return send(FuseRequests.read(node, fh, offset, size), body -> body);
    }

    /**
     * Reads up to {@code size} bytes from {@code offset}, in chunks with up to
     * {@link #maxInFlight()} in flight, stopping at the first short chunk (end of file).
     *
     * @return the data; shorter than {@code size} only at end of file
     */
    public byte[] read(long node, long fh, long offset, int size) {
        if (size < 0) {
            throw new IllegalArgumentException("READ of " + size + " bytes");
        }
        byte[] out = new byte[size];
        int chunk = readChunk();
        Deque<Pending<byte[]>> window = new ArrayDeque<>();
        int issued = 0;
        int filled = 0;
        boolean eof = false;
        try {
            while (!eof && (issued < size || !window.isEmpty())) {
                while (issued < size && window.size() < maxInFlight) {
                    int len = Math.min(chunk, size - issued);
                    window.add(new Pending<>(issued, len, submitRead(node, fh, offset + issued, len)));
                    issued += len;
                }
                Pending<byte[]> head = window.poll();
                byte[] data = await(head.future);
                System.arraycopy(data, 0, out, head.at, data.length);
                filled = head.at + data.length;
                eof = data.length < head.len;
                readProgress.accept(filled);
            }
        } catch (FuseException | FuseProtocolException e) {
            drain(window);
            throw e;
        }
        drain(window);   // after end of file: requests beyond it return nothing we need
        return filled == size ? out : Arrays.copyOf(out, filled);
    }

    /** One WRITE request of up to {@link #writeChunk()} bytes; the future holds the bytes stored. */
    public CompletableFuture<Integer> submitWrite(long node, long fh, long offset, byte[] data) {
        if (data.length > writeChunk()) {
            throw new IllegalArgumentException("WRITE of " + data.length + " bytes exceeds the chunk of " + writeChunk() + "; use write()");
        }
        FuseRequest request = FuseRequests.write(node, fh, offset, data);
        return send(request, FuseWriteOut::decode).thenApply(w -> {
            if (Integer.toUnsignedLong(w.size()) > data.length) {
                throw new FuseProtocolException("FUSE " + request + ": the server claims to have written " + Integer.toUnsignedLong(w.size()) + " bytes");
            }
            return w.size();
        });
    }

    /**
     * Writes {@code data} at {@code offset}, in chunks with up to {@link #maxInFlight()} in flight.
     *
     * @return bytes stored: all of them, or fewer if a chunk was written short (the stored prefix)
     */
    public long write(long node, long fh, long offset, byte[] data) {
        int chunk = writeChunk();
        Deque<Pending<Integer>> window = new ArrayDeque<>();
        int issued = 0;
        long written = 0;
        boolean shortWrite = false;
        try {
            while (!shortWrite && (issued < data.length || !window.isEmpty())) {
                while (issued < data.length && window.size() < maxInFlight) {
                    int len = Math.min(chunk, data.length - issued);
                    window.add(new Pending<>(issued, len, submitWrite(node, fh, offset + issued, Arrays.copyOfRange(data, issued, issued + len))));
                    issued += len;
                }
                Pending<Integer> head = window.poll();
                int n = await(head.future);
                written = (long) head.at + n;
                shortWrite = n < head.len;
            }
        } catch (FuseException | FuseProtocolException e) {
            drain(window);
            throw e;
        }
        drain(window);
        return written;
    }

    /** A chunk of a large transfer in flight: where it goes in the whole, and how long it is. */
    private record Pending<T>(int at, int len, CompletableFuture<T> future) {
    }

    /** Waits out the chunks still in flight, ignoring their outcome (the transfer already ended). */
    private <T> void drain(Deque<Pending<T>> window) {
        for (Pending<T> p : window) {
            try {
                await(p.future);
            } catch (FuseException | FuseProtocolException ignored) {
                // the transfer's result is already decided
            }
        }
        window.clear();
    }

    // ---- directories --------------------------------------------------------------------------

    public FuseOpenOut opendir(long node) {
        return await(send(FuseRequests.opendir(node), FuseOpenOut::decode));
    }

    /** One READDIR of up to {@code size} bytes from {@code offset}; empty at the end of the directory. */
    public List<FuseDirent> readdir(long node, long fh, long offset, int size) {
        return await(send(FuseRequests.readdir(node, fh, offset, size), FuseDirent::decodeAll));
    }

    public void releasedir(long node, long fh) {
        await(send(FuseRequests.releasedir(node, fh), FuseClient::none));
    }

    /**
     * Every entry of directory {@code node} ("." and ".." included): OPENDIR, READDIR until an
     * empty reply, RELEASEDIR.
     *
     * @throws FuseProtocolException if the server hands back an entry whose offset does not move on
     */
    public List<FuseDirent> listDirectory(long node) {
        FuseOpenOut dir = opendir(node);
        List<FuseDirent> all = new ArrayList<>();
        try {
            long offset = 0;
            List<FuseDirent> batch;
            while (!(batch = readdir(node, dir.fh(), offset, readChunk())).isEmpty()) {
                long next = batch.get(batch.size() - 1).off();
                if (next == offset) {
                    throw new FuseProtocolException(String.format("FUSE READDIR node %d: the last entry's offset %d does not move past %d",
                            node, next, offset));
                }
                all.addAll(batch);
                offset = next;
            }
        } catch (FuseException | FuseProtocolException e) {
            // The server still answers: give the handle back. (After a timeout it would not.)
            try {
                releasedir(node, dir.fh());
            } catch (RuntimeException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
        releasedir(node, dir.fh());
        return all;
    }

    @Override
    public String toString() {
        return "FUSE client on " + fs.device();
    }
}
