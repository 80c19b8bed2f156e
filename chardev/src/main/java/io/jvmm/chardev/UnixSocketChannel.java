package io.jvmm.chardev;

import static io.jvmm.chardev.nativ.LinuxConstants.F_GETFL;
import static io.jvmm.chardev.nativ.LinuxConstants.F_SETFL;
import static io.jvmm.chardev.nativ.LinuxConstants.O_NONBLOCK;
import static io.jvmm.chardev.nativ.LinuxConstants.SHUT_WR;

import com.kenai.jffi.MemoryIO;
import io.jvmm.chardev.nativ.LibC;
import io.jvmm.chardev.nativ.LinuxConstants;
import io.jvmm.chardev.nativ.Native;
import io.jvmm.chardev.nativ.UnixSockets;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import jnr.constants.platform.Errno;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A connected AF_UNIX stream socket that carries bytes and fds together (one sendmsg/recvmsg,
 * SCM_RIGHTS), as vhost-user and ivshmem need. Blocking, close-on-exec.
 *
 * <p>One thread may send while another receives; concurrent senders (or receivers) must
 * serialise themselves, since a message may take several system calls. Buffers may be heap or
 * direct; direct ones (including {@link SharedMemory} slices) are used in place, heap ones go
 * through a per-thread 64 KiB native buffer.
 */
public final class UnixSocketChannel implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(UnixSocketChannel.class);
    private static final LibC LIBC = Native.libc();

    /** Most fds one {@link #send} carries (vhost-user's limit, VHOST_MEMORY_BASELINE_NREGIONS). */
    public static final int MAX_FDS = 8;

    private static final int BOUNCE_SIZE = 64 * 1024;
    private static final ThreadLocal<ByteBuffer> BOUNCE = ThreadLocal.withInitial(() -> ByteBuffer.allocateDirect(BOUNCE_SIZE));
    private static final int[] NO_FDS = new int[0];

    private final int fd;
    private final String description;
    private final FdUsers users = new FdUsers();
    private volatile Duration receiveTimeout = Duration.ZERO;
    private volatile Duration sendTimeout = Duration.ZERO;

    private UnixSocketChannel(int fd, String description) {
        this.fd = fd;
        this.description = description;
    }

    /** Connects to a listening socket at path (blocking). */
    public static UnixSocketChannel connect(Path path) {
        int fd = UnixSockets.socket(false);
        try {
            UnixSockets.connect(fd, path);
        } catch (RuntimeException e) {
            Fds.closeQuietly(fd);
            throw e;
        }
        log.debug("connected fd {} to {}", fd, path);
        return new UnixSocketChannel(fd, path.toString());
    }

    /**
     * One non-blocking connection attempt: empty if nobody is listening yet (the path does not
     * exist, connection refused, or the listener's backlog is full). Other errors throw.
     */
    public static Optional<UnixSocketChannel> tryConnect(Path path) {
        try {
            return Optional.of(connectNonBlocking(path));
        } catch (NativeException e) {
            if (isNotListening(e.errno())) {
                return Optional.empty();
            }
            throw e;
        }
    }

    /**
     * Connects without ever blocking (a full backlog is EAGAIN, not a wait); the channel
     * returned is blocking. Failures, including "nobody listens", throw NativeException.
     */
    static UnixSocketChannel connectNonBlocking(Path path) {
        int fd = UnixSockets.socket(true);
        try {
            UnixSockets.connect(fd, path);
            setBlocking(fd);
        } catch (RuntimeException e) {
            Fds.closeQuietly(fd);
            throw e;
        }
        log.debug("connected fd {} to {}", fd, path);
        return new UnixSocketChannel(fd, path.toString());
    }

    /** Errnos of a connect that may succeed later: nobody listens yet, or the backlog is full. */
    static boolean isNotListening(int errno) {
        return errno == Errno.ENOENT.intValue() || errno == Errno.ECONNREFUSED.intValue()
                || errno == Errno.EAGAIN.intValue();
    }

    /** Two connected channels (socketpair). */
    public static UnixSocketChannel[] pair() {
        int[] sv = UnixSockets.socketPair();
        log.debug("socketpair {} <-> {}", sv[0], sv[1]);
        return new UnixSocketChannel[] {
            new UnixSocketChannel(sv[0], "socketpair " + sv[0] + "<->" + sv[1]),
            new UnixSocketChannel(sv[1], "socketpair " + sv[1] + "<->" + sv[0]),
        };
    }

    /**
     * Wraps a connected socket fd (e.g. received from a peer) and takes ownership of it, even if
     * this fails. The fd is made blocking.
     *
     * @throws IllegalArgumentException if fd is not an open socket
     */
    public static UnixSocketChannel adopt(int fd) {
        try {
            String kind = Fds.describe(fd);
            if (!kind.startsWith("socket:")) {
                throw new IllegalArgumentException("fd " + fd + " is not a socket (it is " + kind + ")");
            }
            setBlocking(fd);
        } catch (RuntimeException e) {
            if (fd >= 0 && Fds.isOpen(fd)) {
                Fds.closeQuietly(fd);
            }
            throw e;
        }
        return new UnixSocketChannel(fd, "adopted fd " + fd);
    }

    static UnixSocketChannel accepted(int fd, Path listenPath) {
        return new UnixSocketChannel(fd, "accepted on " + listenPath);
    }

    private static void setBlocking(int fd) {
        int flags = Native.check(LIBC.fcntl(fd, F_GETFL, 0), "fcntl(fd " + fd + ", F_GETFL)");
        if ((flags & O_NONBLOCK) != 0) {
            Native.check(LIBC.fcntl(fd, F_SETFL, flags & ~O_NONBLOCK), "fcntl(fd " + fd + ", F_SETFL, blocking)");
        }
    }

    public int fd() {
        ensureOpen();
        return fd;
    }

    /**
     * Sends all of data's remaining bytes (advancing its position) and the fds, which travel with
     * the first sendmsg; if the kernel takes only part of the bytes, the rest follow without fds.
     * The fds stay owned by the caller (the peer receives duplicates).
     *
     * @throws IllegalArgumentException for more than {@link #MAX_FDS} fds, a negative fd, or fds
     *         with no bytes to carry them (a stream socket cannot send fds alone)
     * @throws NativeException e.g. EPIPE when the peer has gone
     */
    public void send(ByteBuffer data, int... fds) {
        Objects.requireNonNull(data, "data");
        int[] toSend = fds == null ? NO_FDS : fds;
        if (toSend.length > MAX_FDS) {
            throw new IllegalArgumentException(this + ": cannot send " + toSend.length + " fds, at most " + MAX_FDS);
        }
        for (int f : toSend) {
            if (f < 0) {
                throw new IllegalArgumentException(this + ": cannot send negative fd " + f);
            }
        }
        if (toSend.length > 0 && !data.hasRemaining()) {
            throw new IllegalArgumentException(this + ": fds need at least one byte of data to travel with");
        }
        enter();
        try {
            sendAll(data, toSend);
        } finally {
            exit();
        }
    }

    private void sendAll(ByteBuffer data, int[] fds) {
        try {
            sendAllBlocking(data, fds);
        } catch (NativeException e) {
            if (e.errno() == Errno.EAGAIN.intValue()) {
                throw new SendTimeoutException(this + ": the peer read nothing for " + sendTimeout.toMillis()
                        + " ms and the socket is full; " + data.remaining() + " bytes not sent");
            }
            throw e;
        }
    }

    private void sendAllBlocking(ByteBuffer data, int[] fds) {
        int[] toSend = fds;
        while (data.hasRemaining()) {
            long sent;
            if (data.isDirect()) {
                long address = MemoryIO.getInstance().getDirectBufferAddress(data) + data.position();
                sent = UnixSockets.sendmsg(fd, address, data.remaining(), toSend);
                data.position(data.position() + (int) sent);
            } else {
                ByteBuffer bounce = BOUNCE.get().clear();
                int n = Math.min(data.remaining(), BOUNCE_SIZE);
                bounce.put(0, data, data.position(), n);
                long address = MemoryIO.getInstance().getDirectBufferAddress(bounce);
                sent = UnixSockets.sendmsg(fd, address, n, toSend);
                data.position(data.position() + (int) sent);
            }
            if (sent > 0) {
                toSend = NO_FDS;
            }
        }
    }

    /**
     * One recvmsg of up to dst.remaining() bytes (at least one byte of room is required) and up
     * to maxFds fds; advances dst's position by the bytes read. Zero bytes means end of stream.
     *
     * @throws TooManyFdsException if the peer sent more than maxFds fds (those that arrived are closed)
     * @throws ReceiveTimeoutException if a receive timeout is set and nothing arrived in time
     */
    public ReceivedMessage receive(ByteBuffer dst, int maxFds) {
        Objects.requireNonNull(dst, "dst");
        if (!dst.hasRemaining() || dst.isReadOnly()) {
            throw new IllegalArgumentException(this + ": receive buffer is " + (dst.isReadOnly() ? "read-only" : "full"));
        }
        if (maxFds < 0 || maxFds > LinuxConstants.SCM_MAX_FD) {
            throw new IllegalArgumentException(this + ": maxFds " + maxFds + " out of range");
        }
        UnixSockets.Received r;
        enter();
        try {
            if (dst.isDirect()) {
                long address = MemoryIO.getInstance().getDirectBufferAddress(dst) + dst.position();
                r = UnixSockets.recvmsg(fd, address, dst.remaining(), maxFds);
                dst.position(dst.position() + (int) r.bytes());
            } else {
                ByteBuffer bounce = BOUNCE.get().clear();
                int n = Math.min(dst.remaining(), BOUNCE_SIZE);
                long address = MemoryIO.getInstance().getDirectBufferAddress(bounce);
                r = UnixSockets.recvmsg(fd, address, n, maxFds);
                dst.put(dst.position(), bounce, 0, (int) r.bytes());
                dst.position(dst.position() + (int) r.bytes());
            }
        } catch (NativeException e) {
            if (e.errno() == Errno.EAGAIN.intValue()) {
                throw new ReceiveTimeoutException(this + ": nothing received within " + receiveTimeout.toMillis() + " ms");
            }
            throw e;
        } finally {
            exit();
        }
        if (r.controlTruncated()) {
            Fds.closeQuietly(r.fds());
            throw new TooManyFdsException(this + ": peer sent more fds than the " + maxFds
                    + " expected (MSG_CTRUNC); closed the " + r.fds().length + " that arrived, "
                    + r.bytes() + " bytes consumed");
        }
        if (r.fds().length > 0) {
            log.trace("{}: received {} bytes and fds {}", this, r.bytes(), r.fds());
        }
        return new ReceivedMessage((int) r.bytes(), r.fds());
    }

    /**
     * Receives until dst is full, collecting the fds of every read into fdsOut as they arrive
     * (so the caller owns and can close them even if this throws).
     *
     * @throws EndOfStreamException if the peer closes first (says how many bytes of how many arrived)
     */
    public void receiveFully(ByteBuffer dst, List<Integer> fdsOut) {
        int expected = dst.remaining();
        int got = 0;
        while (dst.hasRemaining()) {
            ReceivedMessage m = receive(dst, MAX_FDS);
            for (int f : m.fds()) {
                fdsOut.add(f);
            }
            if (m.eof()) {
                throw new EndOfStreamException(toString(), got, expected);
            }
            got += m.bytes();
        }
    }

    /**
     * Bounds every later receive: one that waits longer fails with
     * {@link ReceiveTimeoutException} (SO_RCVTIMEO). Zero means wait forever.
     */
    public void setReceiveTimeout(Duration timeout) {
        if (timeout.isNegative()) {
            throw new IllegalArgumentException(this + ": negative receive timeout " + timeout);
        }
        enter();
        try {
            UnixSockets.setReceiveTimeout(fd, timeout);
        } finally {
            exit();
        }
        receiveTimeout = timeout;
    }

    /**
     * A send that cannot go on for {@code timeout} (the peer stopped reading and the socket buffer
     * is full) fails with {@link SendTimeoutException} (SO_SNDTIMEO) instead of blocking for ever.
     * Zero means wait forever.
     */
    public void setSendTimeout(Duration timeout) {
        if (timeout.isNegative()) {
            throw new IllegalArgumentException(this + ": negative send timeout " + timeout);
        }
        enter();
        try {
            UnixSockets.setSendTimeout(fd, timeout);
        } finally {
            exit();
        }
        sendTimeout = timeout;
    }

    /** Half-closes: the peer reads end of stream, we can still receive. */
    public void shutdownOutput() {
        enter();
        try {
            UnixSockets.shutdown(fd, SHUT_WR);
        } finally {
            exit();
        }
    }

    public boolean isClosed() {
        return users.isClosed();
    }

    /**
     * The pid of the process at the other end when it connected (SO_PEERCRED), or 0 if it is not
     * visible in this pid namespace or the socket cannot tell.
     */
    public int peerPid() {
        enter();
        try {
            return UnixSockets.peerPid(fd);
        } catch (NativeException e) {
            return 0;
        } finally {
            exit();
        }
    }

    /**
     * Closes the socket; later calls do nothing, and later sends and receives throw
     * IllegalStateException. A thread blocked receiving on it is woken (it sees end of stream)
     * because the socket is shut down first; the fd itself is released once no send or receive
     * that began before close() is still using it (by the last of them to return), so such a
     * call never meets a closed fd, nor another file that got its number.
     */
    @Override
    public void close() {
        if (!users.close()) {
            return;
        }
        try {
            NativeException e = UnixSockets.shutdownForClose(fd);
            if (e != null) {
                log.warn("{}: {}", this, e.getMessage());
            }
        } finally {
            if (users.exit()) {
                Fds.close(fd);
                log.debug("closed {}", this);
            }
        }
    }

    private void ensureOpen() {
        if (users.isClosed()) {
            throw new IllegalStateException(this + " is closed");
        }
    }

    /** Starts a call that uses the fd (it stays open until the matching exit()). */
    private void enter() {
        if (!users.enter()) {
            throw new IllegalStateException(this + " is closed");
        }
    }

    /** Ends a call; the last call to end after close() releases the fd. */
    private void exit() {
        if (users.exit()) {
            Fds.closeQuietly(fd);
            log.debug("closed {} (after the last call that was using it)", this);
        }
    }

    @Override
    public String toString() {
        return "unix socket fd " + fd + " (" + description + ")";
    }
}
