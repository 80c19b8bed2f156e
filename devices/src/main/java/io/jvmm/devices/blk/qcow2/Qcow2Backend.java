package io.jvmm.devices.blk.qcow2;

import io.jvmm.devices.blk.BlkDeviceType;
import io.jvmm.devices.blk.BlockBackend;
import io.jvmm.devices.blk.BlockExtent;
import io.jvmm.devices.blk.RawFileBackend;
import io.jvmm.devices.blk.loop.NettyLoop;
import io.jvmm.devices.blk.nbd.NbdBlockBackend;
import io.jvmm.devices.blk.nbd.NbdClientSettings;
import io.jvmm.devices.blk.nbd.NbdUri;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A qcow2 image as a {@link BlockBackend}. Its metadata engine ({@link Qcow2Image}) runs on one
 * worker thread, so requests are serialised there; the backing file (raw, qcow2 or an NBD export,
 * named by a path relative to the image's directory, an absolute path or an NBD URI) is opened
 * read-only. The image is locked as QEMU locks it ({@link ImageLock}).
 *
 * <p>Header features: the dirty bit (an image left dirty is opened read-only only: repair it with
 * {@code qemu-img check -r all}), lazy refcounts (we keep refcounts exact anyway), extended L2
 * entries (subclusters), an external data file (raw or not), zlib and zstd compression types are
 * supported; any other incompatible feature bit, encryption and the corrupt bit are refused by name.
 */
public final class Qcow2Backend implements BlockBackend {
    private static final Logger log = LoggerFactory.getLogger(Qcow2Backend.class);
    static final int MAX_CHAIN = 16;

    private final Path path;
    private final boolean readOnly;
    private final Qcow2Image image;
    private final ImageLock lock;
    private final ImageLock dataLock;
    private final ExecutorService worker;

    private Qcow2Backend(Path path, boolean readOnly, Qcow2Image image, ImageLock lock, ImageLock dataLock, ExecutorService worker) {
        this.path = path;
        this.readOnly = readOnly;
        this.image = image;
        this.lock = lock;
        this.dataLock = dataLock;
        this.worker = worker;
    }

    /**
     * Opens {@code path}; NBD backing files connect with {@code nbd} settings, waiting on {@code loop}.
     *
     * @throws IllegalArgumentException naming the image and what is wrong with it
     */
    public static Qcow2Backend open(String owner, Path path, boolean readOnly, NbdClientSettings nbd, NettyLoop loop) {
        return open(owner, path, readOnly, nbd, loop, 0);
    }

    private static Qcow2Backend open(String owner, Path path, boolean readOnly, NbdClientSettings nbd, NettyLoop loop, int depth) {
        if (depth > MAX_CHAIN) {
            throw new IllegalArgumentException(path + ": backing chain longer than " + MAX_CHAIN + " (a loop?)");
        }
        String where = "qcow2 image " + path;
        FileChannel file = null;
        FileChannel data = null;
        ImageLock lock = null;
        ImageLock dataLock = null;
        BlockBackend backing = null;
        try {
            try {
                file = readOnly ? FileChannel.open(path, StandardOpenOption.READ)
                        : FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE);
            } catch (NoSuchFileException e) {
                throw new IllegalArgumentException(where + " does not exist", e);
            } catch (IOException e) {
                throw new IllegalArgumentException("cannot open " + where + (readOnly ? "" : " for writing") + ": " + e.getMessage(), e);
            }
            Qcow2Header h = Qcow2Header.read(file, where);
            if (h.dirty() && !readOnly) {
                throw new IllegalArgumentException(where + " is dirty (incompatible feature bit 0: it was not closed cleanly "
                        + "with lazy refcounts); repair it with qemu-img check -r all, or open it read-only");
            }
            if (h.snapshots > 0 && !readOnly) {
                throw new IllegalArgumentException(where + " has " + h.snapshots + " internal snapshots; it can be opened read-only only");
            }
            lock = ImageLock.acquire(path, !readOnly);
            if ((h.incompatible & Qcow2Header.INCOMPAT_DATA_FILE) != 0) {
                if (h.dataFile == null) {
                    throw new IllegalArgumentException(where + " has an external data file (incompatible feature bit 2) but no name for it");
                }
                Path dp = resolve(path, h.dataFile);
                try {
                    data = readOnly ? FileChannel.open(dp, StandardOpenOption.READ)
                            : FileChannel.open(dp, StandardOpenOption.READ, StandardOpenOption.WRITE);
                } catch (IOException e) {
                    throw new IllegalArgumentException(where + ": cannot open its external data file " + dp + ": " + e.getMessage(), e);
                }
                dataLock = ImageLock.acquire(dp, !readOnly);
            }
            if (h.backingFile != null) {
                backing = openBacking(owner, path, h, nbd, loop, depth);
            }
            Qcow2Image image = new Qcow2Image(where, h, file, data, !readOnly, backing);
            image.clearForeignAutoclear();
            String name = "qcow2-" + path.getFileName();
            ExecutorService worker = Executors.newSingleThreadExecutor(r -> {
                Thread t = new Thread(r, name);
                t.setDaemon(true);
                return t;
            });
            log.info("{}: {} ({} bytes, {} KiB clusters{}{}{})", owner, where, h.size, image.clusterSize / 1024,
                    h.extendedL2() ? ", extended L2" : "", data != null ? ", external data file " + h.dataFile : "",
                    backing != null ? ", backing " + backing.describe() : "");
            return new Qcow2Backend(path, readOnly, image, lock, dataLock, worker);
        } catch (IOException | RuntimeException e) {
            closeQuietly(file);
            closeQuietly(data);
            if (lock != null) {
                lock.close();
            }
            if (dataLock != null) {
                dataLock.close();
            }
            if (backing != null) {
                backing.close();
            }
            if (e instanceof IllegalArgumentException iae) {
                throw iae;
            }
            throw new IllegalArgumentException(where + ": " + e.getMessage(), e);
        }
    }

    private static Path resolve(Path image, String name) {
        Path p;
        try {
            p = Path.of(name);
        } catch (java.nio.file.InvalidPathException e) {
            throw new IllegalArgumentException("qcow2 image " + image + " names a file that cannot be a path ('"
                    + name.replace("\0", "\\0") + "': " + e.getReason() + ")");
        }
        if (p.isAbsolute()) {
            return p;
        }
        Path dir = image.toAbsolutePath().getParent();
        return dir == null ? p : dir.resolve(p);
    }

    private static BlockBackend openBacking(String owner, Path path, Qcow2Header h, NbdClientSettings nbd, NettyLoop loop, int depth) {
        String name = h.backingFile;
        String where = "qcow2 image " + path;
        if (name.startsWith("json:")) {
            throw new IllegalArgumentException(where + ": its backing file is a 'json:' name (" + name
                    + "), which is not supported; rebase it onto a path or an NBD URI (qemu-img rebase -u -b ...)");
        }
        if (NbdUri.looksLikeOne(name)) {
            return NbdBlockBackend.open(owner + " (backing file of " + path.getFileName() + ")", NbdUri.parse(name), nbd, true, loop);
        }
        Path bp = resolve(path, name);
        if (!Files.exists(bp)) {
            throw new IllegalArgumentException(where + ": backing file " + bp + " does not exist");
        }
        String format = h.backingFormat;
        if (format == null) {
            format = probe(bp);
        }
        switch (format) {
            case "raw":
                return new RawFileBackend(owner + "-backing", bp, true, BlkDeviceType.ioThreads());
            case "qcow2":
                return open(owner, bp, true, nbd, loop, depth + 1);
            default:
                throw new IllegalArgumentException(where + ": backing file format '" + format + "' is not supported (raw, qcow2)");
        }
    }

    private static String probe(Path p) {
        try (FileChannel f = FileChannel.open(p, StandardOpenOption.READ)) {
            ByteBuffer b = ByteBuffer.allocate(4);
            f.read(b, 0);
            return b.position() == 4 && b.getInt(0) == Qcow2Header.MAGIC ? "qcow2" : "raw";
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read backing file " + p + ": " + e.getMessage(), e);
        }
    }

    private static void closeQuietly(FileChannel c) {
        if (c != null) {
            try {
                c.close();
            } catch (IOException e) {
                log.debug("closing: {}", e.toString());
            }
        }
    }

    private <T> CompletableFuture<T> run(Callable<T> task) {
        CompletableFuture<T> f = new CompletableFuture<>();
        try {
            worker.execute(() -> {
                try {
                    f.complete(task.call());
                } catch (Throwable t) {
                    f.completeExceptionally(t);
                }
            });
        } catch (RuntimeException e) {
            f.completeExceptionally(new IOException(describe() + " is closed", e));
        }
        return f;
    }

    @Override
    public long size() {
        return image.size();
    }

    @Override
    public boolean readOnly() {
        return readOnly;
    }

    private void check(long pos, long len) throws IOException {
        if (pos < 0 || len < 0 || pos > image.size() - len) {
            throw new IOException(describe() + ": range " + pos + "+" + len + " is past the end (" + image.size() + " bytes)");
        }
    }

    private void checkWritable() throws IOException {
        if (readOnly) {
            throw new IOException(describe() + " is read-only");
        }
    }

    @Override
    public CompletableFuture<Void> read(ByteBuffer dst, long position) {
        return run(() -> {
            check(position, dst.remaining());
            image.read(dst, position);
            return null;
        });
    }

    @Override
    public CompletableFuture<Void> write(ByteBuffer src, long position) {
        return run(() -> {
            checkWritable();
            check(position, src.remaining());
            image.write(src, position);
            return null;
        });
    }

    @Override
    public CompletableFuture<Void> flush() {
        return run(() -> {
            image.flush();
            return null;
        });
    }

    @Override
    public CompletableFuture<Void> discard(long position, long length) {
        return run(() -> {
            checkWritable();
            check(position, length);
            image.discard(position, length);
            return null;
        });
    }

    @Override
    public CompletableFuture<Void> writeZeroes(long position, long length, boolean mayUnmap) {
        return run(() -> {
            checkWritable();
            check(position, length);
            image.writeZeroes(position, length, mayUnmap);
            return null;
        });
    }

    @Override
    public CompletableFuture<List<BlockExtent>> blockStatus(long position, long length) {
        return run(() -> image.blockStatus(position, length));
    }

    /** The refcount of host cluster {@code cluster} (tests). */
    long refcount(long cluster) throws Exception {
        return run(() -> image.refcount(cluster)).get();
    }

    @Override
    public String describe() {
        return "qcow2 image " + path + (readOnly ? " (read-only)" : "");
    }

    @Override
    public void close() {
        CompletableFuture<Void> done = run(() -> {
            image.close();
            return null;
        });
        try {
            done.get(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            log.warn("closing {}: {}", describe(), e.toString());
        }
        worker.shutdown();
        try {
            worker.awaitTermination(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        lock.close();
        if (dataLock != null) {
            dataLock.close();
        }
        if (image.backing != null) {
            image.backing.close();
        }
    }
}
