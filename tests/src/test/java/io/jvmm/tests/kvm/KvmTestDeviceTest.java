package io.jvmm.tests.kvm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jvmm.emulator.kvm.KvmVcpu;
import io.jvmm.emulator.machine.KvmMachine;
import io.jvmm.platform.BuiltDevice;
import io.jvmm.platform.config.MachineConfig;
import io.jvmm.testkit.testdev.TestPciDevice;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * jvmm's test device ({@code -device jvmm-testdev}) under this machine's KVM, driven by the
 * freestanding test guest's {@code testdev} mode (one boot for the class): BAR2 is a KVM memory
 * slot over the host's shared memory, so the guest reads the pattern the host wrote and the host
 * reads the guest's, with no exit; the doorbell is a KVM ioeventfd, so each write reaches the
 * device's eventfd without an exit; and the host's {@link TestPciDevice#raise} (the irqfd of the
 * MSI-X vector the guest programmed) arrives as the guest's interrupt. Skips where there is no
 * usable /dev/kvm; the vfio-user test of the same guest mode runs everywhere.
 */
@Timeout(120)
class KvmTestDeviceTest {
    /** The one boot of the class, made by the first test that runs (so each test skips with the reason). */
    private record Boot(KvmMachine.MachineExit exit, TestDeviceHost.Result result, long mmioExits) {
    }

    private static Boot boot;
    private static Throwable bootFailure;

    @BeforeEach
    void setUp() throws Exception {
        KvmAvailable.assume();
        bootOnce();
    }

    private static synchronized void bootOnce() throws Exception {
        if (bootFailure != null) {
            throw new AssertionError("the class's one boot failed", bootFailure);
        }
        if (boot != null) {
            return;
        }
        try {
            boot = bootGuest();
        } catch (Exception | AssertionError e) {
            bootFailure = e;
            throw e;
        }
    }

    private static Boot bootGuest() throws Exception {
        MachineConfig config = KvmConfig.parse("256", "1", TestGuest.elf(), null, TestDeviceHost.APPEND, true, List.of(),
                List.of(), List.of(), List.of("isa-debug-exit,iobase=0x501,iosize=2", TestDeviceHost.DEVICE));
        ByteArrayOutputStream console = new ByteArrayOutputStream();
        try (KvmMachine machine = KvmMachine.create(config, console)) {
            TestPciDevice device = machine.devices().stream()
                    .filter(d -> d instanceof BuiltDevice.Pci pci && pci.device() instanceof TestPciDevice)
                    .map(d -> (TestPciDevice) ((BuiltDevice.Pci) d).device())
                    .findFirst().orElseThrow(() -> new AssertionError("no jvmm-testdev among " + machine.devices()));
            KvmMachine.MachineExit exit;
            TestDeviceHost.Result result;
            try (TestDeviceHost host = TestDeviceHost.start(device, Duration.ofSeconds(60))) {
                exit = machine.run();
                result = host.finish(console.toString(StandardCharsets.US_ASCII).replace("\r", ""));
            }
            return new Boot(exit, result, machine.vcpus().stream().mapToLong(KvmVcpu::mmioExitCount).sum());
        }
    }

    @Test
    void theGuestPassesEveryCheckAndExitsWithPass() {
        assertEquals(TestGuest.PASS, boot.exit().status(), boot.result().console() + "\n" + boot.exit().reason());
        assertTrue(boot.result().console().contains("jvmm-guest: PASS"), boot.result().console());
        TestDeviceHost.assertChecksPassed(boot.result());
        System.out.println(TestDeviceHost.guestLines(boot.result().console()) + "\n" + boot.result().hostOutcome());
    }

    @Test
    void bytesCrossTheRamBarBothWaysWithoutExits() {
        TestDeviceHost.assertRamBothWays(boot.result());
        TestDeviceHost.Accesses a = TestDeviceHost.guestAccesses(boot.result().console());
        assertTrue(boot.mmioExits() < a.bar2(), "BAR2 is a memory slot: " + a.bar2() + " guest accesses to it, " + boot.mmioExits()
                + " MMIO exits in the whole run");
    }

    @Test
    void everyDoorbellReachesTheEventfdWithoutAnExit() {
        TestDeviceHost.assertDoorbells(boot.result());
        TestDeviceHost.Accesses a = TestDeviceHost.guestAccesses(boot.result().console());
        // The BAR0 reads and the MSI-X table exit (nothing else in this guest run uses MMIO but the
        // local APIC, which is KVM's); had the doorbells exited too, there would be that many more.
        long trapped = a.bar0Reads() + a.msixTable();
        assertTrue(boot.mmioExits() >= trapped && boot.mmioExits() < trapped + a.doorbells(), "MMIO exits " + boot.mmioExits()
                + ": the guest made " + trapped + " register and MSI-X table accesses and " + a.doorbells() + " doorbell writes");
        System.out.println("jvmm-testdev under KVM: " + boot.mmioExits() + " MMIO exits for " + trapped + " register and MSI-X table "
                + "accesses, " + a.bar2() + " BAR2 accesses and " + a.doorbells() + " doorbells");
    }

    @Test
    void theHostsRaiseArrivesAsTheGuestsInterrupt() {
        TestDeviceHost.assertInterrupt(boot.result());
    }
}
