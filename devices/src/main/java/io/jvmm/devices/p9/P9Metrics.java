package io.jvmm.devices.p9;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;

import java.util.function.Supplier;

/**
 * virtio-9p's device meters, tagged with the device id: {@code jvmm.p9.ring.slots} (descriptor
 * chains taken from the ring and not yet returned), {@code jvmm.p9.replies.too.large} (a reply
 * that did not fit the guest's buffers: answered with EMSGSIZE instead), and for chardev=
 * {@code jvmm.p9.backend.failures} (requests failed with EIO because the server went away) and
 * {@code jvmm.p9.backend.reconnects}. The server's own meters ({@code jvmm.p9.requests} ...) are
 * registered beside them, tagged server=ID.
 */
public final class P9Metrics {
    private final MeterRegistry registry;
    private final String deviceId;
    private final Counter tooLarge;
    private final Counter failures;
    private final Counter reconnects;

    public P9Metrics(MeterRegistry registry, String deviceId) {
        this.registry = registry;
        this.deviceId = deviceId;
        tooLarge = Counter.builder("jvmm.p9.replies.too.large").tag("device", deviceId)
                .description("replies larger than the guest's buffers (answered with EMSGSIZE)").register(registry);
        failures = Counter.builder("jvmm.p9.backend.failures").tag("device", deviceId)
                .description("requests failed with EIO because the 9P server went away").register(registry);
        reconnects = Counter.builder("jvmm.p9.backend.reconnects").tag("device", deviceId)
                .description("connections made again to the 9P server").register(registry);
    }

    public static P9Metrics unregistered(String deviceId) {
        return new P9Metrics(new SimpleMeterRegistry(), deviceId);
    }

    public MeterRegistry registry() {
        return registry;
    }

    void ringSlots(Supplier<Number> held) {
        Gauge.builder("jvmm.p9.ring.slots", held).tag("device", deviceId)
                .description("descriptor chains held (taken from the ring, not yet returned)").register(registry);
    }

    void tooLarge() {
        tooLarge.increment();
    }

    void failed(int n) {
        failures.increment(n);
    }

    void reconnected() {
        reconnects.increment();
    }
}
