package io.jvmm.emulator.kvm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jvmm.chardev.EventFd;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Interrupts into a guest with an IDT and an enabled xAPIC, counted by the guest itself: MSIs by
 * KVM_SIGNAL_MSI and through irqfds on MSI routes, detaching and re-attaching an irqfd, removing
 * a route, and the IOAPIC pin of KVM_IRQ_LINE.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class KvmInterruptTest {
    private static final long MSI_ADDRESS_CPU0 = 0xFEE00000L;
    private static final int ROUNDS = 50;
    /** How long "nothing arrives" is watched; a delivered interrupt takes ~60 µs here. */
    private static final long QUIET_MS = 200;
    private static final long ARRIVAL_TIMEOUT_MS = 10_000;

    @Test
    void msisFromSignalMsiAndIrqfdsReachTheGuestOncePerSignal() throws Exception {
        try (KvmFixture f = KvmFixture.create(true); EventFd irqfd = EventFd.create()) {
            CompletableFuture<ExitReason> run = startInterruptGuest(f);

            for (int i = 1; i <= ROUNDS; i++) {
                assertTrue(f.vm.signalMsi(MSI_ADDRESS_CPU0, 0x40), "the APIC accepted MSI " + i);
                awaitCount(f, GuestPrograms.COUNTER_40, i);
            }

            int gsi = f.vm.allocateGsi();
            f.vm.setMsiRoute(gsi, MSI_ADDRESS_CPU0, 0x41);
            f.vm.attachIrqfd(irqfd, gsi);
            for (int i = 1; i <= ROUNDS; i++) {
                irqfd.signal();
                awaitCount(f, GuestPrograms.COUNTER_41, i);
            }

            // Detached: a signal stays in the eventfd. Re-attached: KVM finds it and delivers it once.
            f.vm.detachIrqfd(irqfd, gsi);
            irqfd.signal();
            Thread.sleep(QUIET_MS);
            assertEquals(ROUNDS, f.memory.read64(GuestPrograms.COUNTER_41), "a detached irqfd delivers nothing");
            f.vm.attachIrqfd(irqfd, gsi);
            awaitCount(f, GuestPrograms.COUNTER_41, ROUNDS + 1);
            Thread.sleep(QUIET_MS);
            assertEquals(ROUNDS + 1, f.memory.read64(GuestPrograms.COUNTER_41), "the pending signal arrives once");

            // Re-routing the GSI takes effect for the same irqfd; removing the route silences it.
            f.vm.setMsiRoute(gsi, MSI_ADDRESS_CPU0, 0x40);
            irqfd.signal();
            awaitCount(f, GuestPrograms.COUNTER_40, ROUNDS + 1);
            assertTrue(f.vm.removeRoute(gsi));
            irqfd.signal();
            Thread.sleep(QUIET_MS);
            assertEquals(ROUNDS + 1, f.memory.read64(GuestPrograms.COUNTER_40), "no route, no interrupt");
            assertEquals(ROUNDS + 1, f.memory.read64(GuestPrograms.COUNTER_41));

            f.vm.detachIrqfd(irqfd, gsi);
            f.vm.releaseGsi(gsi);
            f.vcpu.stop();
            assertEquals(ExitReason.STOPPED, run.get(10, TimeUnit.SECONDS));
            assertEquals(1, f.vcpu.exitCount(), "only the guest's 'ready' OUT left the kernel, no interrupt did");
        }
    }

    @Test
    void irqLineRaisesTheIoapicPinTheGuestProgrammed() throws Exception {
        try (KvmFixture f = KvmFixture.create(true)) {
            CompletableFuture<ExitReason> run = startInterruptGuest(f);

            for (int i = 1; i <= 5; i++) {
                f.vm.setIrqLine(4, true);   // edge-triggered pin: one interrupt per rising edge
                f.vm.setIrqLine(4, false);
                awaitCount(f, GuestPrograms.COUNTER_42, i);
            }
            assertEquals(0, f.memory.read64(GuestPrograms.COUNTER_40));

            f.vcpu.stop();
            assertEquals(ExitReason.STOPPED, run.get(10, TimeUnit.SECONDS));
        }
    }

    /** Starts LONG_IRQ and returns once it has enabled its APIC and programmed the IOAPIC. */
    private static CompletableFuture<ExitReason> startInterruptGuest(KvmFixture f) throws Exception {
        f.loadLongMode(GuestPrograms.LONG_IRQ);
        writeGate(f, 0x40, GuestPrograms.LONG_IRQ_HANDLER_40);
        writeGate(f, 0x41, GuestPrograms.LONG_IRQ_HANDLER_41);
        writeGate(f, 0x42, GuestPrograms.LONG_IRQ_HANDLER_42);
        Sregs s = f.vcpu.getSregs();
        s.setIdt(new DescriptorTable(KvmFixture.IDT, 0x43 * 16 - 1));
        f.vcpu.setSregs(s);
        CountDownLatch ready = new CountDownLatch(1);
        CompletableFuture<ExitReason> run = f.runAsync(new RecordingExitHandler().onWrite(a -> ready.countDown()));
        if (!ready.await(ARRIVAL_TIMEOUT_MS, TimeUnit.MILLISECONDS)) {
            throw new AssertionError("the interrupt guest never said it was ready; run: " + run);
        }
        return run;
    }

    /** A 64-bit interrupt gate: present, DPL 0, type 0xE, code selector 0x08. */
    private static void writeGate(KvmFixture f, int vector, long handler) {
        long at = KvmFixture.IDT + 16L * vector;
        long low = (handler & 0xFFFF) | ((long) LongModeSetup.CODE_SELECTOR << 16) | (0x8EL << 40)
                | ((handler >>> 16) & 0xFFFF) << 48;
        f.memory.write64(at, low);
        f.memory.write64(at + 8, handler >>> 32);
    }

    private static void awaitCount(KvmFixture f, long counter, long expected) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(ARRIVAL_TIMEOUT_MS);
        long seen;
        while ((seen = f.memory.read64(counter)) < expected) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("guest counter at 0x" + Long.toHexString(counter) + " is " + seen
                        + ", expected " + expected + " within " + ARRIVAL_TIMEOUT_MS + " ms");
            }
            Thread.sleep(0, 100_000);
        }
        assertEquals(expected, seen, "one interrupt per signal, not more");
    }
}
