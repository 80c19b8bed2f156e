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
