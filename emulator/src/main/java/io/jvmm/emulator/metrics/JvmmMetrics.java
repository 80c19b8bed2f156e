package io.jvmm.emulator.metrics;

import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.config.MeterFilter;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.lang.management.ManagementFactory;
import java.net.InetSocketAddress;
import java.net.URI;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What {@code -metrics prometheus} starts: a Prometheus meter registry the machine's devices
 * register their meters in, with the JVM's own meters (memory, garbage collection, threads,
 * processor), served over HTTP by a {@link MetricsServer}. Closing it stops the server and the
 * garbage-collection listener.
 */
public final class JvmmMetrics implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(JvmmMetrics.class);

    private final PrometheusMeterRegistry registry;
    private final JvmGcMetrics gc;
    private final MetricsServer server;

    private JvmmMetrics(PrometheusMeterRegistry registry, JvmGcMetrics gc, MetricsServer server) {
        this.registry = registry;
        this.gc = gc;
        this.server = server;
    }

    /**
     * A registry with the JVM meters bound. {@code strict}: a meter that cannot be registered (the
     * same name with other tag keys or another type) throws instead of being logged and left out,
     * which tests use to find clashes.
     */
    public static PrometheusMeterRegistry newRegistry(boolean strict) {
        PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        if (strict) {
            registry.throwExceptionOnRegistrationFailure();
        }
        // Two of Micrometer's processor meters have names promtool objects to: process.cpu.time in
        // nanoseconds ("abbreviated units": it becomes process_cpu_time_ns_total) and
        // system.cpu.count (a "_count" suffix on a gauge). Seconds and another name instead.
        registry.config().meterFilter(MeterFilter.deny(id -> id.getName().equals("process.cpu.time") && "ns".equals(id.getBaseUnit())));
        registry.config().meterFilter(new MeterFilter() {
            @Override
            public Meter.Id map(Meter.Id id) {
                return id.getName().equals("system.cpu.count") ? id.withName("system.cpus.available") : id;
            }
        });
        new JvmMemoryMetrics().bindTo(registry);
        new JvmThreadMetrics().bindTo(registry);
        new ProcessorMetrics().bindTo(registry);
        if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) {
            FunctionCounter.builder("process.cpu.time", os, o -> o.getProcessCpuTime() / 1e9).baseUnit("seconds")
                    .description("the CPU time used by the Java virtual machine process").register(registry);
        }
        return registry;
    }

    /** A new registry with the JVM meters, served as {@code options} say. */
    public static JvmmMetrics start(MetricsOptions options) {
        return start(options, false);
    }

    /** As {@link #start(MetricsOptions)}; {@code strict} as for {@link #newRegistry}. */
    public static JvmmMetrics start(MetricsOptions options, boolean strict) {
        PrometheusMeterRegistry registry = newRegistry(strict);
        JvmGcMetrics gc = new JvmGcMetrics();
        gc.bindTo(registry);
        try {
            MetricsServer server = MetricsServer.start(options.host(), options.port(), registry);
            log.info("serving metrics on {}", server.uri());
            return new JvmmMetrics(registry, gc, server);
        } catch (RuntimeException e) {
            gc.close();
            registry.close();
            throw e;
        }
    }

    /** Where the machine's devices register their meters. */
    public PrometheusMeterRegistry registry() {
        return registry;
    }

    public InetSocketAddress address() {
        return server.address();
    }

    /** {@code http://HOST:PORT/metrics}. */
    public URI uri() {
        return server.uri();
    }

    @Override
    public void close() {
        server.close();
        gc.close();
        registry.close();
    }
}
