package io.jvmm.devices.ivshmem;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.concurrent.atomic.AtomicInteger;

/** ivshmem-doorbell's meters, tagged with the device id. */
public final class IvshmemMetrics {
    private final AtomicInteger peers = new AtomicInteger();
    private final Counter interrupts;
    private final Counter interruptsWhileDisabled;
    private final Counter doorbellsDropped;
    private final Counter extraEventFds;
    private final Counter badMessages;
    private final Counter lostWrites;

    public IvshmemMetrics(MeterRegistry registry, String deviceId) {
        Gauge.builder("jvmm.ivshmem.peers", peers, AtomicInteger::get).description("peers whose eventfds we hold (ourselves included)")
                .tags("device", deviceId).register(registry);
        interrupts = Counter.builder("jvmm.ivshmem.interrupts").description("signals on our own eventfds that passed through jvmm (all of them, or under KVM those that came while masked)")
                .tags("device", deviceId).register(registry);
        interruptsWhileDisabled = Counter.builder("jvmm.ivshmem.interrupts.dropped")
                .description("signals on our eventfds while the guest had MSI-X disabled (dropped, as in QEMU)")
                .tags("device", deviceId).register(registry);
        doorbellsDropped = Counter.builder("jvmm.ivshmem.doorbells.dropped")
                .description("doorbell writes to an unknown peer or vector (dropped, as in QEMU)").tags("device", deviceId).register(registry);
        extraEventFds = Counter.builder("jvmm.ivshmem.eventfds.extra")
                .description("eventfds the server sent for vectors beyond ours (closed)").tags("device", deviceId).register(registry);
        badMessages = Counter.builder("jvmm.ivshmem.server.bad.messages")
                .description("server messages that made no sense after the setup (ignored)").tags("device", deviceId).register(registry);
        lostWrites = Counter.builder("jvmm.ivshmem.bar2.lost.writes")
                .description("x-async-setup=on: guest writes to BAR2 before the memory arrived (lost)").tags("device", deviceId)
                .register(registry);
    }

    /** Meters nobody reads (a device built outside a machine). */
    public static IvshmemMetrics unregistered(String deviceId) {
        return new IvshmemMetrics(new SimpleMeterRegistry(), deviceId);
    }

    void peers(int count) {
        peers.set(count);
    }

    void interrupt(long signals) {
        interrupts.increment(signals);
    }

    void interruptWhileDisabled() {
        interruptsWhileDisabled.increment();
    }

    void doorbellDropped() {
        doorbellsDropped.increment();
    }

    void extraEventFd() {
        extraEventFds.increment();
    }

    void badMessage() {
        badMessages.increment();
    }

    void lostWrite() {
        lostWrites.increment();
    }

    public double doorbellsDroppedCount() {
        return doorbellsDropped.count();
    }

    public double interruptsCount() {
        return interrupts.count();
    }

    public double lostWritesCount() {
        return lostWrites.count();
    }

    public double extraEventFdsCount() {
        return extraEventFds.count();
    }
}
