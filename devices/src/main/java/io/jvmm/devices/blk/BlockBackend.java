package io.jvmm.devices.blk;

import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * Where a block device's data lives (a raw file, an NBD export, a qcow2 image). Every operation
 * is asynchronous so a device keeps several requests in flight; buffers are views of guest
 * memory, filled or drained with no intermediate copy.
 */
public interface BlockBackend extends AutoCloseable {
    /** Size in bytes. */
    long size();

    boolean readOnly();

    /** Fills {@code dst} completely from {@code position}. */
    CompletableFuture<Void> read(ByteBuffer dst, long position);

    /** Writes all of {@code src} at {@code position}. */
    CompletableFuture<Void> write(ByteBuffer src, long position);

    CompletableFuture<Void> flush();

    /**
     * Writes all of {@code src} at {@code position}; with {@code fua} the data is on stable
     * storage when the future completes (NBD's FUA). By default a write followed by a flush.
     */
    default CompletableFuture<Void> write(ByteBuffer src, long position, boolean fua) {
        CompletableFuture<Void> w = write(src, position);
        return fua ? w.thenCompose(x -> flush()) : w;
    }

    /**
     * Whether {@link #writeZeroes} is fast (no more costly than a metadata update): NBD's
     * FAST_ZERO is refused with ENOTSUP when it is not.
     */
    default boolean fastZeroes() {
        return false;
    }

    /**
     * The allocation of {@code [position, position + length)}, in order, covering at least the
     * first byte (it may stop short of the end). By default all data.
     */
    default CompletableFuture<List<BlockExtent>> blockStatus(long position, long length) {
        return CompletableFuture.completedFuture(List.of(BlockExtent.data(length)));
    }

    /** The range's contents become undefined (space may be released). */
    CompletableFuture<Void> discard(long position, long length);

    /** The range reads as zeroes afterwards; {@code mayUnmap} lets the backend release space. */
    CompletableFuture<Void> writeZeroes(long position, long length, boolean mayUnmap);

    /** A short human description for logs ("raw file /path"). */
    String describe();

    /**
     * The fast path of a small request, tried on the device's context before {@link #read}:
     * fills the buffers of {@code dst} (host addresses of guest memory) from {@code position}
     * only if that can be done now without blocking (the data is in the page cache), and says
     * whether all of it was. False means nothing or only part was done, and the caller does the
     * whole transfer the usual way (reading a part twice is harmless). By default never.
     */
    default boolean tryReadNow(IoVector dst, long position) {
        return false;
    }

    /**
     * As {@link #tryReadNow}, for a write of the buffers of {@code src} at {@code position}:
     * true only if all of it was written without blocking; false leaves the whole write to
     * {@link #write} (writing a part twice puts the same bytes in the same place).
     */
    default boolean tryWriteNow(IoVector src, long position) {
        return false;
    }

    @Override
    void close();
}
