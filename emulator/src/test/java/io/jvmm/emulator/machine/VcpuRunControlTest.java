package io.jvmm.emulator.machine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.jvmm.chardev.Await;
import io.jvmm.monitor.MachineEvent;
import io.jvmm.monitor.MonitorSupport;
import io.jvmm.monitor.RunState;
import io.jvmm.platform.options.UserError;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The KVM machine's stop/cont without KVM: vCPU threads that "run the guest" (count) until kicked,
 * as {@code VcpuLoop} runs KVM_RUN, around the real {@link VcpuRunControl}. STOP is reported only
 * once every vCPU is parked and nothing runs while paused; the machine's end releases them.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class VcpuRunControlTest {
    private final MonitorSupport monitor = new MonitorSupport(RunState.PRELAUNCH);
    private final List<FakeVcpu> vcpus = new ArrayList<>();
    private final VcpuRunControl control = new VcpuRunControl(monitor, () -> vcpus.forEach(FakeVcpu::kick), Duration.ofSeconds(20));
    private final List<String> seen = new CopyOnWriteArrayList<>();

    /** Runs "guest code" (a counter) until kicked, then returns as KVM_RUN returns STOPPED. */
    private final class FakeVcpu implements Runnable {
        final AtomicLong executed = new AtomicLong();
        final AtomicBoolean kicked = new AtomicBoolean();
        final Thread thread = new Thread(this, "fake-vcpu");

        void kick() {
            kicked.set(true);
        }

        @Override
        public void run() {
            control.vcpuEntered();
            try {
                while (control.parkWhilePaused()) {
                    while (!kicked.getAndSet(false)) {   // "KVM_RUN"
                        executed.incrementAndGet();
                        Thread.onSpinWait();
                    }
                }
            } finally {
                control.vcpuLeft();
            }
        }
    }

    private void startVcpus(int n) {
        for (int i = 0; i < n; i++) {
            vcpus.add(new FakeVcpu());
        }
        control.starting();
        vcpus.forEach(v -> v.thread.start());
    }

    private long executed() {
        return vcpus.stream().mapToLong(v -> v.executed.get()).sum();
    }

    @AfterEach
    void end() throws InterruptedException {
        control.end(RunState.SHUTDOWN);
        vcpus.forEach(FakeVcpu::kick);
        for (FakeVcpu v : vcpus) {
            v.thread.join(10_000);
        }
    }

    @Test
    void stopIsReportedOnlyOnceEveryVcpuIsParkedAndNothingRunsUntilCont() {
        monitor.events().addListener(e -> seen.add(e instanceof MachineEvent.Stop ? "STOP with " + control.parkedVcpus() + " parked" : e.name()));
        startVcpus(2);
        assertEquals(RunState.RUNNING, monitor.state());
        Await.until(() -> executed() > 1000, "the vCPUs run");
        control.stop();
        assertEquals(List.of("STOP with 2 parked"), seen);
        assertEquals(RunState.PAUSED, monitor.state());
        long frozen = executed();
        Await.stays(() -> executed() == frozen, "no guest code runs while paused");
        control.stop();
        assertEquals(1, seen.size(), "stopping a paused machine reports nothing");
        control.cont();
        assertEquals("RESUME", seen.get(1));
        Await.until(() -> executed() > frozen + 1000, "the vCPUs run again");
        control.cont();
        assertEquals(2, seen.size(), "resuming a running machine reports nothing");
    }

    @Test
    void stoppedBeforeTheStartTheVcpusNeverRunUntilCont() {
        monitor.events().addListener(e -> seen.add(e.name()));
        control.stop();
        assertEquals(List.of(), seen, "nothing ran: no STOP");
        startVcpus(2);
        assertEquals(RunState.PAUSED, monitor.state(), "starting keeps a machine paused in prelaunch paused");
        Await.until(() -> control.parkedVcpus() == 2, "both park before their first run");
        assertEquals(0, executed());
        control.cont();
        assertEquals(List.of("RESUME"), seen);
        Await.until(() -> executed() > 0, "they start");
    }

    @Test
    void theEndReleasesParkedVcpusForGood() throws InterruptedException {
        startVcpus(2);
        control.stop();
        control.end(RunState.SHUTDOWN);
        for (FakeVcpu v : vcpus) {
            v.thread.join(10_000);
            assertFalse(v.thread.isAlive(), "a parked vCPU leaves when the machine ends");
        }
        assertEquals(RunState.SHUTDOWN, monitor.state());
        UserError e = assertThrows(UserError.class, control::cont);
        assertEquals("the KVM machine is shutdown; it cannot be resumed", e.getMessage());
        control.stop();
        assertEquals(RunState.SHUTDOWN, monitor.state(), "stop after the end changes nothing");
    }

    @Test
    void eventsCarryQemusNames() {
        assertEquals("STOP", new MachineEvent.Stop().name());
        assertEquals("RESUME", new MachineEvent.Resume().name());
    }
}
