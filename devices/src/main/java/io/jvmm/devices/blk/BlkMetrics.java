package io.jvmm.devices.blk;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * virtio-blk's meters, tagged with the device id: requests by type, bytes read and written, failed
 * requests, requests in flight. (Interrupts are counted by the transport, for every virtio device.)
 */
public final class BlkMetrics {
    private final Counter[] requests = new Counter[BlkRequestType.MAX_TYPE + 1];
    private final Counter otherRequests;
    private final Counter bytesRead;
    private final Counter bytesWritten;
    private final Counter errors;
    private final AtomicInteger inFlight = new AtomicInteger();

    public BlkMetrics(MeterRegistry registry, String deviceId) {
        for (int type : BlkRequestType.KNOWN) {
            requests[type] = requestCounter(registry, deviceId, BlkRequestType.name(type));
        }
        otherRequests = requestCounter(registry, deviceId, "other");
        bytesRead = Counter.builder("jvmm.blk.bytes").description("bytes transferred between the disk and the guest")
                .tags("device", deviceId, "direction", "read").baseUnit("bytes").register(registry);
        bytesWritten = Counter.builder("jvmm.blk.bytes").description("bytes transferred between the disk and the guest")
                .tags("device", deviceId, "direction", "write").baseUnit("bytes").register(registry);
        errors = Counter.builder("jvmm.blk.errors").description("requests completed with IOERR or UNSUPP")
                .tags("device", deviceId).register(registry);
        Gauge.builder("jvmm.blk.in.flight", inFlight, AtomicInteger::get).description("requests taken from the ring and not completed")
                .tags("device", deviceId).register(registry);
    }

    /** Meters nobody reads (a device built outside a machine). */
    public static BlkMetrics unregistered(String deviceId) {
        return new BlkMetrics(new SimpleMeterRegistry(), deviceId);
    }

    private static Counter requestCounter(MeterRegistry registry, String deviceId, String type) {
        return Counter.builder("jvmm.blk.requests").description("requests taken from the ring")
                .tags("device", deviceId, "type", type).register(registry);
    }

    void started(int type) {
        Counter c = type >= 0 && type < requests.length && requests[type] != null ? requests[type] : otherRequests;
        c.increment();
        inFlight.incrementAndGet();
    }

    void completed(int type, int status, long bytes) {
        inFlight.decrementAndGet();
        if (status != BlkRequestType.S_OK) {
            errors.increment();
        } else if (type == BlkRequestType.IN) {
            bytesRead.increment(bytes);
        } else if (type == BlkRequestType.OUT) {
            bytesWritten.increment(bytes);
        }
    }
}
