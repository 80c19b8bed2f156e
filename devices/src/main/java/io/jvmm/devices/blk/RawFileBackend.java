package io.jvmm.devices.blk;

import io.jvmm.chardev.FdUsers;
import io.jvmm.chardev.Fds;
import io.jvmm.chardev.nativ.LibC;
import io.jvmm.chardev.nativ.LinuxConstants;
import io.jvmm.chardev.nativ.Native;
import jnr.constants.platform.Errno;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.AsynchronousFileChannel;
import java.nio.channels.CompletionHandler;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A raw image file. Positional asynchronous I/O goes straight between the file and the guest's
 * buffers; a small pool of I/O threads keeps several requests in flight.
 *
 * <p>The fast path ({@link #tryReadNow}, {@link #tryWriteNow}): {@code preadv2}/{@code pwritev2}
 * with {@code RWF_NOWAIT} on a second descriptor of the file, straight between the file and the
 * guest's buffers on the caller's thread (the device's context). The kernel does it only if it
 * need not wait (the data is in the page cache), so the context never blocks on the disk; what
 * it refuses goes to the I/O threads as before. A file system without RWF_NOWAIT (EOPNOTSUPP)
 * turns the fast path off for that direction.
 */
public final class RawFileBackend implements BlockBackend {
    private static final Logger log = LoggerFactory.getLogger(RawFileBackend.class);
    private static final int ZERO_CHUNK = 1 << 20;
    private static final ByteBuffer ZEROES = ByteBuffer.allocateDirect(ZERO_CHUNK).asReadOnlyBuffer();

    private final Path path;
    private final boolean readOnly;
    private final ExecutorService io;
    private final AsynchronousFileChannel channel;
    private final long size;
    private static final LibC LIBC = Native.libc();
    private static final int EAGAIN = Errno.EAGAIN.intValue();
    private final int fd;
    private final FdUsers fdUsers = new FdUsers();
    private volatile boolean readNowait = true;
    private volatile boolean writeNowait = true;

    /**
     * @throws IllegalArgumentException naming the file when it cannot be opened as asked
     */
    public RawFileBackend(String ownerId, Path path, boolean readOnly, int ioThreads) {
        this.path = path;
        this.readOnly = readOnly;
        AtomicInteger n = new AtomicInteger();
        this.io = Executors.newFixedThreadPool(ioThreads, r -> {
            Thread t = new Thread(r, ownerId + "-io-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
        try {
            Set<StandardOpenOption> options = readOnly ? Set.of(StandardOpenOption.READ)
                    : Set.of(StandardOpenOption.READ, StandardOpenOption.WRITE);
            this.channel = AsynchronousFileChannel.open(path, options, io);
            this.size = channel.size();
        } catch (NoSuchFileException e) {
            io.shutdownNow();
            throw new IllegalArgumentException("drive file " + path + " does not exist", e);
        } catch (IOException e) {
            io.shutdownNow();
            throw new IllegalArgumentException("cannot open drive file " + path + (readOnly ? " for reading" : " for reading and writing")
                    + ": " + e.getMessage() + (readOnly ? "" : " (use readonly=on for a read-only file)"), e);
        }
        if (!Files.isRegularFile(path)) {
            log.warn("drive {} is not a regular file; treating it as a raw image", path);
        }
        int flags = (readOnly ? LinuxConstants.O_RDONLY : LinuxConstants.O_RDWR) | LinuxConstants.O_CLOEXEC;
        int raw = LIBC.open(path.toString(), flags, 0);
        if (raw < 0) {   // the channel opened it a moment ago: only the fast path is lost
            log.warn("drive {}: second descriptor for the fast path not opened (errno {}); every request goes to the I/O threads",
                    path, Native.errno());
            readNowait = false;
            writeNowait = false;
        }
        this.fd = raw;
    }

    @Override
    public long size() {
        return size;
    }

    @Override
    public boolean readOnly() {
        return readOnly;
    }

    @Override
    public CompletableFuture<Void> read(ByteBuffer dst, long position) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        readMore(dst, position, done);
        return done;
    }

    private void readMore(ByteBuffer dst, long position, CompletableFuture<Void> done) {
        if (!dst.hasRemaining()) {
            done.complete(null);
            return;
        }
        channel.read(dst, position, null, new CompletionHandler<Integer, Void>() {
            @Override
            public void completed(Integer n, Void a) {
                if (n < 0) {
                    done.completeExceptionally(new IOException("end of " + path + " at offset " + position));
                } else {
                    readMore(dst, position + n, done);
                }
            }

            @Override
            public void failed(Throwable e, Void a) {
                done.completeExceptionally(e);
            }
        });
    }

    @Override
    public CompletableFuture<Void> write(ByteBuffer src, long position) {
        if (readOnly) {
            return CompletableFuture.failedFuture(new IOException(path + " is read-only"));
        }
        CompletableFuture<Void> done = new CompletableFuture<>();
        writeMore(src, position, done);
        return done;
    }

    private void writeMore(ByteBuffer src, long position, CompletableFuture<Void> done) {
        if (!src.hasRemaining()) {
            done.complete(null);
            return;
        }
        channel.write(src, position, null, new CompletionHandler<Integer, Void>() {
            @Override
            public void completed(Integer n, Void a) {
                writeMore(src, position + n, done);
            }

            @Override
            public void failed(Throwable e, Void a) {
                done.completeExceptionally(e);
            }
        });
    }

    @Override
    public CompletableFuture<Void> flush() {
        return CompletableFuture.runAsync(() -> {
            try {
                channel.force(false);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }, io);
    }

    /** A raw file keeps no allocation map here, so discarding zeroes the range. */
    @Override
    public CompletableFuture<Void> discard(long position, long length) {
        return writeZeroes(position, length, true);
    }

    @Override
    public CompletableFuture<Void> writeZeroes(long position, long length, boolean mayUnmap) {
        if (readOnly) {
            return CompletableFuture.failedFuture(new IOException(path + " is read-only"));
        }
        CompletableFuture<Void> all = CompletableFuture.completedFuture(null);
        for (long off = 0; off < length; off += ZERO_CHUNK) {
            int n = (int) Math.min(ZERO_CHUNK, length - off);
            long pos = position + off;
            all = all.thenCompose(x -> write(ZEROES.duplicate().limit(n), pos));
        }
        return all;
    }

    @Override
    public boolean tryReadNow(IoVector dst, long position) {
        return readNowait && nowait(true, dst, position);
    }

    @Override
    public boolean tryWriteNow(IoVector src, long position) {
        return !readOnly && writeNowait && nowait(false, src, position);
    }

    /** preadv2/pwritev2 with RWF_NOWAIT on the second descriptor: true only if all of the vector was transferred. */
    private boolean nowait(boolean read, IoVector buffers, long position) {
        if (!fdUsers.enter()) {
            return false;
        }
        try {
            long n = read
                    ? LIBC.preadv2(fd, buffers.address(), buffers.count(), position, LinuxConstants.RWF_NOWAIT)
                    : LIBC.pwritev2(fd, buffers.address(), buffers.count(), position, LinuxConstants.RWF_NOWAIT);
            if (n == buffers.bytes()) {
                return true;
            }
            if (n < 0) {
                nowaitFailed(Native.errno(), read ? "read" : "write");
            }
            return false;   // short (end of file, partly cached) or refused: the I/O threads do it all
        } finally {
            if (fdUsers.exit()) {
                Fds.closeQuietly(fd);
            }
        }
    }

    /** EAGAIN is the expected refusal; a kernel or file system without RWF_NOWAIT turns that direction off. */
    private void nowaitFailed(int errno, String what) {
        if (errno == EAGAIN) {
            return;
        }
        if (errno == Errno.EOPNOTSUPP.intValue() || errno == Errno.EINVAL.intValue() || errno == Errno.ENOSYS.intValue()) {
            log.info("drive {}: {}s without waiting are not supported here ({}); they go to the I/O threads", path, what,
                    Errno.valueOf(errno));
            if (what.equals("read")) {
                readNowait = false;
            } else {
                writeNowait = false;
            }
        }
        // Anything else (EIO, EFAULT...): the I/O threads repeat the transfer and report it properly.
    }

    @Override
    public String describe() {
        return "raw file " + path + (readOnly ? " (read-only)" : "");
    }

    @Override
    public void close() {
        if (fd >= 0 && fdUsers.close() && fdUsers.exit()) {   // a fast-path call under way closes it on its way out
            Fds.closeQuietly(fd);
        }
        try {
            channel.close();
        } catch (IOException e) {
            log.warn("closing {}: {}", path, e.toString());
        }
        io.shutdown();
        try {
            io.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
