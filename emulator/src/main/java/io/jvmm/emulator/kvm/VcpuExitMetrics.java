package io.jvmm.emulator.kvm;

import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import java.util.EnumSet;
import java.util.Locale;
import java.util.Set;

/**
 * {@code jvmm.vcpu.exits{vcpu, reason}}: a vCPU's exits to user space by KVM exit reason, read
 * from the counts its run loop keeps per {@link ExitReason} (an ordered store on the vCPU thread,
 * no Micrometer on the run loop). The reasons an x86 guest meets have a series each (io, mmio,
 * hlt, intr, irq_window_open, shutdown, fail_entry, internal_error, system_event, exception,
 * debug, unknown); every other one is counted under {@code other}.
 */
public final class VcpuExitMetrics {
    /** The reasons with a series of their own. */
    static final Set<ExitReason> NAMED = EnumSet.of(ExitReason.IO, ExitReason.MMIO, ExitReason.HLT, ExitReason.INTR,
            ExitReason.IRQ_WINDOW_OPEN, ExitReason.SHUTDOWN, ExitReason.FAIL_ENTRY, ExitReason.INTERNAL_ERROR,
            ExitReason.SYSTEM_EVENT, ExitReason.EXCEPTION, ExitReason.DEBUG, ExitReason.UNKNOWN);

    private VcpuExitMetrics() {
    }

    public static void register(KvmVcpu vcpu, MeterRegistry registry) {
        Tags tags = Tags.of("vcpu", Integer.toString(vcpu.id()));
        String help = "vCPU exits to user space by KVM exit reason";
        for (ExitReason reason : NAMED) {
            FunctionCounter.builder("jvmm.vcpu.exits", vcpu, v -> v.exitCount(reason))
                    .tags(tags.and("reason", reason.name().toLowerCase(Locale.ROOT))).description(help).register(registry);
        }
        FunctionCounter.builder("jvmm.vcpu.exits", vcpu, VcpuExitMetrics::others)
                .tags(tags.and("reason", "other")).description(help).register(registry);
    }

    /** Exits whose reason has no series of its own. */
    static long others(KvmVcpu vcpu) {
        long n = 0;
        for (ExitReason r : ExitReason.values()) {
            if (!NAMED.contains(r)) {
                n += vcpu.exitCount(r);
            }
        }
        return n;
    }
}
