package io.jvmm.devices.blk;

import java.nio.ByteBuffer;
import java.util.concurrent.CompletableFuture;

/**
 * Where a block device's data lives (a raw file today; NBD and others later). Every operation
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

    /** The range's contents become undefined (space may be released). */
    CompletableFuture<Void> discard(long position, long length);

    /** The range reads as zeroes afterwards; {@code mayUnmap} lets the backend release space. */
    CompletableFuture<Void> writeZeroes(long position, long length, boolean mayUnmap);

    /** A short human description for logs ("raw file /path"). */
    String describe();

    @Override
    void close();
}
