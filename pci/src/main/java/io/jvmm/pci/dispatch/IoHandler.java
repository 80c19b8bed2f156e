package io.jvmm.pci.dispatch;

import java.util.concurrent.CompletableFuture;

/**
 * A device's handler for one region registered in an {@link IoSpace}. Offsets are relative to
 * the region base; the dispatcher guarantees {@code offset + size <= length} and a size of 1, 2,
 * 4 or 8. Called concurrently from any vCPU thread.
 */
public interface IoHandler {

    /** Reads {@code size} bytes at {@code offset}; the value is zero-extended. */
    long read(long offset, int size);

    /**
     * Writes the low {@code size} bytes of {@code value} at {@code offset}. Returns
     * {@link IoCompletion#DONE} unless the write started an operation the vCPU must wait for
     * (rule 1: e.g. a vhost-user SET_VRING_CALL awaiting its reply); the caller waits on it.
     */
    CompletableFuture<Void> write(long offset, int size, long value);
}
