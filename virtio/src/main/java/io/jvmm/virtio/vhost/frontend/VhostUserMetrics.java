package io.jvmm.virtio.vhost.frontend;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.concurrent.TimeUnit;

/**
 * A vhost-user device's meters, tagged with the device id: how long the back-end takes to
 * acknowledge a control message the guest's write waits for (rule 1), and how often the back-end
 * failed (lost, stalled, refused, or broke the protocol); requests the front-end completed with an
 * error because the back-end was gone, scans of the in-flight shadow that missed ring entries, and
 * reconnections to a new back-end at a device reset.
 */
public final class VhostUserMetrics {
    private final Timer acknowledgements;
    private final Counter failures;
    private final Counter errorCompletions;
    private final Counter shadowOverruns;
    private final Counter reconnects;

    public VhostUserMetrics(MeterRegistry registry, String deviceId) {
        acknowledgements = Timer.builder("jvmm.vhost.user.ack").description("back-end acknowledgement of a control message")
                .tags("device", deviceId).register(registry);
        failures = Counter.builder("jvmm.vhost.user.backend.failures").description("back-end failures that broke the device")
                .tags("device", deviceId).register(registry);
        errorCompletions = Counter.builder("jvmm.vhost.user.error.completions")
                .description("requests completed by the front-end with an error reply because the back-end was gone")
                .tags("device", deviceId).register(registry);
        shadowOverruns = Counter.builder("jvmm.vhost.user.inflight.overruns")
                .description("scans of the in-flight shadow that found a ring moved by a whole queue size (inexact until idle)")
                .tags("device", deviceId).register(registry);
        reconnects = Counter.builder("jvmm.vhost.user.reconnects").description("new back-end connections made at a device reset")
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

    void errorCompleted(int requests) {
        errorCompletions.increment(requests);
    }

    void shadowOverrun() {
        shadowOverruns.increment();
    }

    void reconnected() {
        reconnects.increment();
    }
}
