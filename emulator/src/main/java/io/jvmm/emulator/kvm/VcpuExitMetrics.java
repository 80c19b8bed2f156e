package io.jvmm.emulator.kvm;

import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * {@code jvmm.vcpu.exits{vcpu, reason}}: a vCPU's exits to user space by KVM exit reason, read
 * from the counts {@link KvmVcpu} keeps per exit code (an ordered store on the vCPU thread, no
 * Micrometer on the run loop). Reasons: io, mmio, hlt, intr, irq_window_open, shutdown,
 * fail_entry, internal_error, system_event, exception, debug, unknown, and other (every code
 * without a name of its own).
 */
public final class VcpuExitMetrics {
    /** KVM exit codes with a reason of their own (include/uapi/linux/kvm.h). */
    static final Map<String, Integer> REASONS = new LinkedHashMap<>();

    static {
        REASONS.put("io", KvmVcpu.EXIT_IO);
        REASONS.put("mmio", KvmVcpu.EXIT_MMIO);
        REASONS.put("hlt", KvmVcpu.EXIT_HLT);
        REASONS.put("intr", KvmVcpu.EXIT_INTR);
        REASONS.put("irq_window_open", KvmVcpu.EXIT_IRQ_WINDOW_OPEN);
        REASONS.put("shutdown", KvmVcpu.EXIT_SHUTDOWN);
        REASONS.put("fail_entry", KvmVcpu.EXIT_FAIL_ENTRY);
        REASONS.put("internal_error", KvmVcpu.EXIT_INTERNAL_ERROR);
        REASONS.put("system_event", KvmVcpu.EXIT_SYSTEM_EVENT);
        REASONS.put("exception", KvmVcpu.EXIT_EXCEPTION);
        REASONS.put("debug", KvmVcpu.EXIT_DEBUG);
        REASONS.put("unknown", KvmVcpu.EXIT_UNKNOWN);
    }

    private VcpuExitMetrics() {
    }

    public static void register(KvmVcpu vcpu, MeterRegistry registry) {
        Tags tags = Tags.of("vcpu", Integer.toString(vcpu.id()));
        String help = "vCPU exits to user space by KVM exit reason";
        REASONS.forEach((reason, code) -> FunctionCounter.builder("jvmm.vcpu.exits", vcpu, v -> v.exitCount(code))
                .tags(tags.and("reason", reason)).description(help).register(registry));
        FunctionCounter.builder("jvmm.vcpu.exits", vcpu, VcpuExitMetrics::others)
                .tags(tags.and("reason", "other")).description(help).register(registry);
    }

    /** Exits whose code has no reason of its own. */
    static long others(KvmVcpu vcpu) {
        long n = 0;
        for (int code = 0; code < KvmVcpu.EXIT_CODE_SLOTS; code++) {
            if (!REASONS.containsValue(code)) {
                n += vcpu.exitCount(code);
            }
        }
        return n;
    }
}
