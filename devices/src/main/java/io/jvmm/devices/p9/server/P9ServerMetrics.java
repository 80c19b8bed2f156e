package io.jvmm.devices.p9.server;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;

/**
 * The server's meters, tagged with its name (the device id, or "server"): per operation
 * {@code jvmm.p9.requests{op}} and {@code jvmm.p9.latency{op}} (from start to reply), errors
 * {@code jvmm.p9.errors{op}}, {@code jvmm.p9.bytes{direction}}, {@code jvmm.p9.flushes} (Tflush
 * received), {@code jvmm.p9.flush.cancelled} (victims cancelled before they started),
 * {@code jvmm.p9.flush.leaked} (historic mode: Tflush never answered), {@code jvmm.p9.internal.errors}
 * (requests that failed with an internal error: a bug), and the gauges
 * {@code jvmm.p9.outstanding.tags} and {@code jvmm.p9.fids}.
 */
public final class P9ServerMetrics {
    private final MeterRegistry registry;
    private final String name;
    private final Counter[] requests = new Counter[256];
    private final Counter[] errors = new Counter[256];
    private final Timer[] latency = new Timer[256];
    private final Counter bytesRead;
    private final Counter bytesWritten;
    private final Counter flushes;
    private final Counter cancelled;
    private final Counter leaked;
    private final Counter internal;
    private final AtomicLong fids = new AtomicLong();
    private final AtomicLong flushCount = new AtomicLong();

    public P9ServerMetrics(MeterRegistry registry, String name) {
        this.registry = registry;
        this.name = name;
        bytesRead = Counter.builder("jvmm.p9.bytes").tags("server", name, "direction", "read").baseUnit("bytes")
                .description("bytes read from files for the client").register(registry);
        bytesWritten = Counter.builder("jvmm.p9.bytes").tags("server", name, "direction", "write").baseUnit("bytes")
                .description("bytes written to files for the client").register(registry);
        flushes = Counter.builder("jvmm.p9.flushes").tag("server", name).description("Tflush received").register(registry);
        cancelled = Counter.builder("jvmm.p9.flush.cancelled").tag("server", name)
                .description("requests a Tflush cancelled before they started").register(registry);
        leaked = Counter.builder("jvmm.p9.flush.leaked").tag("server", name)
                .description("Tflush dropped unanswered (x-flush=historic)").register(registry);
        internal = Counter.builder("jvmm.p9.internal.errors").tag("server", name)
                .description("requests that failed with an internal error of the server (a bug; answered EIO)").register(registry);
        Gauge.builder("jvmm.p9.fids", fids, AtomicLong::get).tag("server", name).description("fids held").register(registry);
    }

    public static P9ServerMetrics unregistered(String name) {
        return new P9ServerMetrics(new SimpleMeterRegistry(), name);
    }

    /** Registers the outstanding-tags gauge over whatever sums the sessions. */
    public void outstanding(Supplier<Number> tags) {
        Gauge.builder("jvmm.p9.outstanding.tags", tags).tag("server", name)
                .description("requests received and not yet answered").register(registry);
    }

    public MeterRegistry registry() {
        return registry;
    }

    private Counter requests(int type) {
        Counter c = requests[type];
        if (c == null) {
            c = Counter.builder("jvmm.p9.requests").tags("server", name, "op", P9.name(type)).register(registry);
            requests[type] = c;
        }
        return c;
    }

    void received(int type) {
        requests(type & 0xff).increment();
    }

    void served(int type, long nanos) {
        Timer t = latency[type];
        if (t == null) {
            t = Timer.builder("jvmm.p9.latency").tags("server", name, "op", P9.name(type)).register(registry);
            latency[type] = t;
        }
        t.record(nanos, TimeUnit.NANOSECONDS);
    }

    void error(int type) {
        Counter c = errors[type & 0xff];
        if (c == null) {
            c = Counter.builder("jvmm.p9.errors").tags("server", name, "op", P9.name(type & 0xff)).register(registry);
            errors[type & 0xff] = c;
        }
        c.increment();
    }

    void internalError() {
        internal.increment();
    }

    /** Requests that failed with an internal error of the server (a bug, answered EIO and logged). */
    public long internalErrors() {
        return (long) internal.count();
    }

    void read(long n) {
        bytesRead.increment(n);
    }

    void written(long n) {
        bytesWritten.increment(n);
    }

    void flush() {
        flushes.increment();
        flushCount.incrementAndGet();
    }

    void cancelled() {
        cancelled.increment();
    }

    void leaked() {
        leaked.increment();
    }

    void fidOpened() {
        fids.incrementAndGet();
    }

    void fidClosed() {
        fids.decrementAndGet();
    }

    public long flushesReceived() {
        return flushCount.get();
    }

    public long fidsHeld() {
        return fids.get();
    }

    public long cancelledCount() {
        return (long) cancelled.count();
    }
}
