package io.jvmm.devices.nbd;

import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.concurrent.atomic.AtomicLong;

/** An NBD server's counters: connections, requests, failed requests, internal errors, bytes read and written. */
public final class NbdServerMetrics {
    private final String serverId;
    final AtomicLong connections = new AtomicLong();
    final AtomicLong requests = new AtomicLong();
    final AtomicLong errors = new AtomicLong();
    final AtomicLong bytesRead = new AtomicLong();
    final AtomicLong bytesWritten = new AtomicLong();
    final AtomicLong internalErrors = new AtomicLong();

    NbdServerMetrics(String serverId) {
        this.serverId = serverId;
    }

    /** Registers the counters as {@code jvmm.nbd.server.*{server=ID}}. */
    public void bindTo(MeterRegistry registry) {
        FunctionCounter.builder("jvmm.nbd.server.connections", connections, AtomicLong::get).tags("server", serverId)
                .description("connections accepted").register(registry);
        FunctionCounter.builder("jvmm.nbd.server.requests", requests, AtomicLong::get).tags("server", serverId)
                .description("transmission requests").register(registry);
        FunctionCounter.builder("jvmm.nbd.server.errors", errors, AtomicLong::get).tags("server", serverId)
                .description("requests answered with an error").register(registry);
        FunctionCounter.builder("jvmm.nbd.server.internal.errors", internalErrors, AtomicLong::get).tags("server", serverId)
                .description("connections closed or requests failed by an internal error of the server (a bug)").register(registry);
        FunctionCounter.builder("jvmm.nbd.server.bytes", bytesRead, AtomicLong::get).tags("server", serverId, "direction", "read")
                .baseUnit("bytes").register(registry);
        FunctionCounter.builder("jvmm.nbd.server.bytes", bytesWritten, AtomicLong::get).tags("server", serverId, "direction", "write")
                .baseUnit("bytes").register(registry);
    }

    void connectionOpened() {
        connections.incrementAndGet();
    }

    public long requests() {
        return requests.get();
    }

    public long errors() {
        return errors.get();
    }

    /** Connections closed or requests failed by an internal error of the server (a bug, logged). */
    public long internalErrors() {
        return internalErrors.get();
    }
}
