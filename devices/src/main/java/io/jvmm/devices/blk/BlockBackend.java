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

    @Override
    void close();
}
