package io.jvmm.emulator.kvm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jvmm.chardev.Await;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** stop() from another thread, including for a guest halted in the kernel with interrupts off. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class KvmStopTest {
    /** Generous: stop() should take microseconds, but the machine may be loaded. */
    private static final long STOP_TIMEOUT_S = 10;

    @Test
    void stopReturnsAVcpuHaltedWithInterruptsDisabled() throws Exception {
        // With the in-kernel irqchip, HLT does not exit to user space: nothing but a signal wakes it.
        try (KvmFixture f = KvmFixture.create(true)) {
            f.loadLongMode(GuestPrograms.LONG_CLI_HLT);
            RecordingExitHandler h = new RecordingExitHandler();

            CompletableFuture<ExitReason> run = f.runAsync(h);
            f.awaitAsleepInKvmRunOrDone(run);   // the guest ran cli; hlt and sleeps in the kernel
            assertFalse(run.isDone(), "the halted guest must keep run() inside KVM_RUN");

            f.vcpu.stop();
            assertEquals(ExitReason.STOPPED, run.get(STOP_TIMEOUT_S, TimeUnit.SECONDS));
            assertEquals("stop() was called", f.vcpu.lastExit().detail());
            assertTrue(f.vcpu.interruptedRunCount() >= 1, "KVM_RUN returned because of the kick");
            assertFalse(f.vcpu.isRunning());
            assertEquals(0, f.vcpu.getRegs().rflags() & Regs.RFLAGS_IF, "the guest really had interrupts off");
            assertEquals(KvmFixture.CODE + 2, f.vcpu.getRegs().rip(), "halted after the hlt");
            assertTrue(h.accesses().isEmpty());

            // The same vCPU runs again (still halted) and stops again: the stop request was consumed.
            CompletableFuture<ExitReason> again = f.runAsync(h);
            f.awaitAsleepInKvmRunOrDone(again);
            assertFalse(again.isDone(), "a consumed stop request must not end the next run");
            f.vcpu.stop();
            assertEquals(ExitReason.STOPPED, again.get(STOP_TIMEOUT_S, TimeUnit.SECONDS));
        }
    }

    @Test
    void stopBeforeRunMakesTheNextRunReturnAtOnceWithoutRunningTheGuest() {
        try (KvmFixture f = KvmFixture.create(false)) {
            f.loadLongMode(GuestPrograms.LONG_SERIAL_IMAGE);
            f.vcpu.stop();
            RecordingExitHandler h = new RecordingExitHandler();

            assertEquals(ExitReason.STOPPED, f.vcpu.run(h));
            assertTrue(h.accesses().isEmpty(), "the guest did not run");
            assertEquals(KvmFixture.CODE, f.vcpu.getRegs().rip());

            assertEquals(ExitReason.HLT, f.vcpu.run(h), "the next run is a normal one");
            assertEquals("A" + GuestPrograms.LONG_SERIAL_MESSAGE, h.serialText());
        }
    }

    @Test
    void stopEndsABusyGuestThatKeepsExitingToTheHandler() throws Exception {
        try (KvmFixture f = KvmFixture.create(false)) {
            f.loadLongMode(GuestPrograms.LONG_PORT_LOOP);
            RecordingExitHandler h = new RecordingExitHandler();
            CompletableFuture<ExitReason> run = f.runAsync(h);
            Await.until(() -> h.accesses().size() >= 10 || run.isDone(), "ten OUTs from the busy guest");
            f.vcpu.stop();
            assertEquals(ExitReason.STOPPED, run.get(STOP_TIMEOUT_S, TimeUnit.SECONDS));
            long count = h.accesses().size();
            assertEquals(count, h.accesses().get((int) count - 1).value(), "every OUT seen once, in order");
        }
    }

    @Test
    void stateAccessFromAnotherThreadWhileRunningIsRefusedInsteadOfBlocking() throws Exception {
        try (KvmFixture f = KvmFixture.create(true)) {
            f.loadLongMode(GuestPrograms.LONG_CLI_HLT);
            CompletableFuture<ExitReason> run = f.runAsync(new RecordingExitHandler());
            awaitRunning(f.vcpu);

            IllegalStateException e = assertThrows(IllegalStateException.class, f.vcpu::getRegs);
            assertTrue(e.getMessage().contains("KVM_GET_REGS: vCPU 0 is running on thread test-vcpu-0"), e.getMessage());
            assertThrows(IllegalStateException.class, () -> f.vcpu.run(new RecordingExitHandler()),
                    "a second concurrent run() is refused");

            f.vcpu.stop();
            assertEquals(ExitReason.STOPPED, run.get(STOP_TIMEOUT_S, TimeUnit.SECONDS));
            f.vcpu.getRegs();
        }
    }

    @Test
    void closeStopsARunningVcpuFirst() throws Exception {
        try (KvmFixture f = KvmFixture.create(true)) {
            f.loadLongMode(GuestPrograms.LONG_CLI_HLT);
            CompletableFuture<ExitReason> run = f.runAsync(new RecordingExitHandler());
            awaitRunning(f.vcpu);

            f.vcpu.close();

            assertEquals(ExitReason.STOPPED, run.get(STOP_TIMEOUT_S, TimeUnit.SECONDS));
            IllegalStateException e = assertThrows(IllegalStateException.class, f.vcpu::getRegs);
            assertEquals("vCPU 0 is closed", e.getMessage());
            f.vcpu.stop();   // harmless after close
        }
    }

    private static void awaitRunning(KvmVcpu vcpu) {
        Await.until(vcpu::isRunning, "the vCPU thread to enter run()");
    }
}
