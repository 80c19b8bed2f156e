package io.jvmm.tests.virtio;

import io.jvmm.devices.blk.BlockBackend;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;

import io.jvmm.testkit.driver.Poll;

/**
 * A block backend whose reads and writes wait at a gate before reaching the real backend, so a
 * test can hold requests in flight inside the device for as long as it likes. The gate starts
 * open; {@link #shut()} closes it for the operations that start afterwards.
 */
final class GatedBackend implements BlockBackend {
    private final BlockBackend inner;
    private final AtomicInteger held = new AtomicInteger();
    private volatile CompletableFuture<Void> gate = CompletableFuture.completedFuture(null);

    GatedBackend(BlockBackend inner) {
        this.inner = inner;
    }

    /** Operations starting from now wait until {@link #open()}. */
    void shut() {
        gate = new CompletableFuture<>();
    }

    void open() {
        gate.complete(null);
    }

    /** Operations that reached the gate while it was shut. */
    int held() {
        return held.get();
    }

    void awaitHeld(int n, Duration timeout) {
        Poll.until(() -> held.get() >= n, timeout, () -> n + " operations at the gate (" + held.get() + " so far)");
    }

    private <T> CompletableFuture<T> through(Supplier<CompletableFuture<T>> op) {
        CompletableFuture<Void> g = gate;
        if (!g.isDone()) {
            held.incrementAndGet();
        }
        return g.thenCompose(x -> op.get());
    }

    @Override
    public long size() {
        return inner.size();
    }

    @Override
    public boolean readOnly() {
        return inner.readOnly();
    }

    @Override
    public CompletableFuture<Void> read(ByteBuffer dst, long position) {
        return through(() -> inner.read(dst, position));
    }

    @Override
    public CompletableFuture<Void> write(ByteBuffer src, long position) {
        return through(() -> inner.write(src, position));
    }

    @Override
    public CompletableFuture<Void> flush() {
        return through(inner::flush);
    }

    @Override
    public CompletableFuture<Void> discard(long position, long length) {
        return through(() -> inner.discard(position, length));
    }

    @Override
    public CompletableFuture<Void> writeZeroes(long position, long length, boolean mayUnmap) {
        return through(() -> inner.writeZeroes(position, length, mayUnmap));
    }

    @Override
    public String describe() {
        return "gated " + inner.describe();
    }

    @Override
    public void close() {
        open();   // nothing may stay stuck at the gate when the machine shuts down
        inner.close();
    }
}
