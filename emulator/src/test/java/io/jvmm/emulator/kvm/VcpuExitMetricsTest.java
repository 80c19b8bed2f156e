package io.jvmm.emulator.kvm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** jvmm.vcpu.exits{vcpu,reason}: a tiny guest's exits, counted per KVM exit reason. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class VcpuExitMetricsTest {

    @Test
    void exitsAreCountedByReason() {
        try (KvmFixture f = KvmFixture.create(false)) {
            MeterRegistry meters = new SimpleMeterRegistry();
            VcpuExitMetrics.register(f.vcpu, meters);
            f.loadLongMode(GuestPrograms.LONG_SERIAL_IMAGE);

            assertEquals(ExitReason.HLT, f.vcpu.run(new RecordingExitHandler()));

            double io = meters.get("jvmm.vcpu.exits").tags("vcpu", "0", "reason", "io").functionCounter().count();
            double hlt = meters.get("jvmm.vcpu.exits").tags("vcpu", "0", "reason", "hlt").functionCounter().count();
            assertEquals(f.vcpu.ioExitCount(), io, "one io exit per OUT");
            assertTrue(io >= 1, "the guest wrote to the serial port: " + io);
            assertEquals(1, hlt);
            double all = meters.find("jvmm.vcpu.exits").functionCounters().stream().mapToDouble(c -> c.count()).sum();
            assertEquals(f.vcpu.exitCount(), all, "every exit is under exactly one reason");
        }
    }

    @Test
    void everyReasonIsCountedOnceEitherByNameOrAsOther() {
        // Bookkeeping only, no KVM needed: each named reason gets its own series, the rest go to "other".
        assertEquals(12, VcpuExitMetrics.NAMED.size());
        assertTrue(!VcpuExitMetrics.NAMED.contains(ExitReason.STOPPED) && !VcpuExitMetrics.NAMED.contains(ExitReason.UNRECOGNIZED));
    }
}
