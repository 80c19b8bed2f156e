package io.jvmm.devices.rng;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;

/** virtio-rng's meters, tagged with the device id: requests served and bytes of entropy given. */
public final class RngMetrics {
    private final Counter requests;
    private final Counter bytes;

    public RngMetrics(MeterRegistry registry, String deviceId) {
        requests = Counter.builder("jvmm.rng.requests").description("entropy requests served")
                .tags("device", deviceId).register(registry);
        bytes = Counter.builder("jvmm.rng.bytes").description("bytes of entropy given to the guest")
                .tags("device", deviceId).baseUnit("bytes").register(registry);
    }

    /** Meters nobody reads (a device built outside a machine). */
    public static RngMetrics unregistered(String deviceId) {
        return new RngMetrics(new SimpleMeterRegistry(), deviceId);
    }

    void served(int bytesWritten) {
        requests.increment();
        bytes.increment(bytesWritten);
    }
}
