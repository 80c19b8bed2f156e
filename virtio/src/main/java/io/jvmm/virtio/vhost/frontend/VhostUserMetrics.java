package io.jvmm.virtio.vhost.frontend;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.concurrent.TimeUnit;

/**
 * A vhost-user device's meters, tagged with the device id: how long the back-end takes to
 * acknowledge a control message the guest's write waits for (rule 1), and how often the back-end
 * failed (lost, stalled, refused, or broke the protocol).
 */
public final class VhostUserMetrics {
    private final Timer acknowledgements;
    private final Counter failures;

    public VhostUserMetrics(MeterRegistry registry, String deviceId) {
        acknowledgements = Timer.builder("jvmm.vhost.user.ack").description("back-end acknowledgement of a control message")
                .tags("device", deviceId).register(registry);
        failures = Counter.builder("jvmm.vhost.user.backend.failures").description("back-end failures that broke the device")
                .tags("device", deviceId).register(registry);
    }

    /** Meters nobody reads (a device built outside a machine). */
    public static VhostUserMetrics unregistered(String deviceId) {
        return new VhostUserMetrics(new SimpleMeterRegistry(), deviceId);
    }

    void acknowledged(long sentNanos) {
        acknowledgements.record(System.nanoTime() - sentNanos, TimeUnit.NANOSECONDS);
    }

    void failed() {
        failures.increment();
    }
}
