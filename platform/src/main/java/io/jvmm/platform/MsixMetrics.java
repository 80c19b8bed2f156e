package io.jvmm.platform;

import io.jvmm.pci.msix.Msix;
import io.jvmm.pci.msix.MsixCounters;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import java.util.List;
import java.util.function.ToDoubleFunction;

/**
 * A device's MSI-X meters, read from the lock-free {@link MsixCounters} its {@link Msix} keeps (so
 * the signal path neither allocates nor touches Micrometer), tagged with the device id:
 * <ul>
 * <li>{@code jvmm.msix.signals{outcome=delivered|pending|dropped}}: signals by what became of them
 *     ({@code pending}: the vector or function was masked, so the PBA bit was set);</li>
 * <li>{@code jvmm.msix.deliveries}: messages handed to the machine's delivery;</li>
 * <li>{@code jvmm.msix.pending.deliveries}: pending bits delivered on unmask.</li>
 * </ul>
 * Each machine calls {@link #register} for the MSI-X it builds. A device built again under the same
 * id (hot-plug) replaces the meters of the one before.
 */
public final class MsixMetrics {
    private MsixMetrics() {
    }

    public static Msix register(Msix msix, MeterRegistry registry) {
        MsixCounters c = msix.counters();
        Tags device = Tags.of("device", msix.deviceId());
        for (String name : List.of("jvmm.msix.signals", "jvmm.msix.deliveries", "jvmm.msix.pending.deliveries")) {
            for (Meter old : registry.find(name).tags(device).meters()) {
                registry.remove(old);
            }
        }
        counter(registry, "jvmm.msix.signals", device.and("outcome", "delivered"), c, MsixCounters::signalsDelivered,
                "MSI-X signals by outcome: delivered at once, pending (masked: PBA bit set), dropped (MSI-X disabled)");
        counter(registry, "jvmm.msix.signals", device.and("outcome", "pending"), c, MsixCounters::signalsPending,
                "MSI-X signals by outcome: delivered at once, pending (masked: PBA bit set), dropped (MSI-X disabled)");
        counter(registry, "jvmm.msix.signals", device.and("outcome", "dropped"), c, MsixCounters::signalsDropped,
                "MSI-X signals by outcome: delivered at once, pending (masked: PBA bit set), dropped (MSI-X disabled)");
        counter(registry, "jvmm.msix.deliveries", device, c, MsixCounters::deliveries,
                "MSI-X messages handed to the machine's interrupt delivery");
        counter(registry, "jvmm.msix.pending.deliveries", device, c, MsixCounters::pendingDeliveries,
                "MSI-X pending bits delivered when their vector was unmasked");
        return msix;
    }

    private static void counter(MeterRegistry registry, String name, Tags tags, MsixCounters counters,
                                ToDoubleFunction<MsixCounters> count, String help) {
        FunctionCounter.builder(name, counters, count).tags(tags).description(help).register(registry);
    }
}
