package io.jvmm.tests.vfiouser;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jvmm.emulator.vfiouser.DeviceServer;
import io.jvmm.emulator.vfiouser.ServedDevice;
import io.jvmm.platform.assembly.MachineAssembly;
import io.jvmm.platform.config.ConfigParser;
import io.jvmm.platform.config.MachineConfig;
import io.jvmm.platform.registry.Registry;
import io.jvmm.testkit.testdev.TestPciDevice;
import io.jvmm.tests.kvm.TestDeviceHost;
import io.jvmm.tests.kvm.TestGuest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The test guest's {@code testdev} mode, the same ELF {@link io.jvmm.tests.kvm.KvmTestDeviceTest}
 * boots under KVM, here in QEMU 11.1 under TCG (PVH entry, SeaBIOS placing the BARs) with
 * jvmm-testdev served over vfio-user (one boot for the class). It needs no /dev/kvm, so it proves
 * the guest's C code where the KVM test skips. The paths differ from KVM's: QEMU mmaps BAR2 (its
 * region info carries the memory's fd), traps the doorbell into a REGION_WRITE that the server
 * turns into the device's eventfd, and emulates the MSI-X table itself; {@link TestPciDevice#raise}
 * signals the eventfd QEMU gave for the vector.
 */
@Timeout(value = 15, unit = TimeUnit.MINUTES)
class VfioUserTestGuestTestDeviceTest {
    /** The one boot of the class, made by the first test that runs (so each test skips with the reason). */
    private record Boot(QemuRig.GuestRun run, TestDeviceHost.Result result, long bar0Accesses, long bar2Accesses,
                        long interruptsDelivered) {
    }

    /**
     * SeaBIOS places BAR2 below 4 GiB, jvmm above (from 64 GiB), so the guest reassigns the
     * device's BARs (BAR2 at 512 GiB): it then maps BAR2 with its own page tables as under jvmm,
     * and QEMU moves its mapping of the region.
     */
    private static final String APPEND = TestDeviceHost.APPEND + " reassign-bars";
    private static final Pattern BARS = Pattern.compile("testdev 00:\\p{XDigit}{2}\\.\\d: bar0 0x(\\p{XDigit}+) bar2 0x(\\p{XDigit}+) ");

    private static Boot boot;
    private static Throwable bootFailure;

    @BeforeEach
    void setUp() throws Exception {
        QemuRig rig = QemuRig.get();
        bootOnce(rig);
    }

    private static synchronized void bootOnce(QemuRig rig) throws Exception {
        if (bootFailure != null) {
            throw new AssertionError("the class's one boot failed", bootFailure);
        }
        if (boot != null) {
            return;
        }
        Path share = Files.createTempDirectory("jvmm-testdev-guest");
        try {
            boot = bootGuest(rig, share);
        } catch (Exception | AssertionError e) {
            bootFailure = e;
            throw e;
        } finally {
            try (var files = Files.walk(share)) {
                files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    private static Boot bootGuest(QemuRig rig, Path share) throws Exception {
        Path elf = TestGuest.elf();
        MachineConfig config = ConfigParser.parseDevicesOnly(Registry.load(),
                ConfigParser.RawOptions.devicesOnly(Map.of(), List.of(TestDeviceHost.DEVICE)));
        try (DeviceServer server = new DeviceServer(Map.of("t0", share.resolve("t0.sock")), null)) {
            MachineAssembly.assemble(config.devices(), server);
            ServedDevice served = server.devices().get(0);
            TestPciDevice device = (TestPciDevice) served.pci();
            QemuRig.GuestRun run;
            TestDeviceHost.Result result;
            try (TestDeviceHost host = TestDeviceHost.start(device, Duration.ofSeconds(120))) {
                run = rig.bootElf(share, elf, APPEND, QemuRig.vfioUserDevice("t0.sock"), 120);
                result = host.finish(run.console());
            }
            return new Boot(run, result, served.regionAccesses(TestPciDevice.REGISTER_BAR), served.regionAccesses(TestPciDevice.RAM_BAR),
                    served.interruptsDelivered());
        }
    }

    @Test
    void theGuestPassesEveryCheckAndExitsWithPass() {
        QemuRig.GuestRun run = boot.run();
        assertEquals(TestGuest.PASS, run.exitStatus(), "QEMU's exit status is the guest's PASS\n" + QemuRig.tail(run.console()));
        assertTrue(run.console().contains("jvmm-guest: PASS"), QemuRig.tail(run.console()));
        TestDeviceHost.assertChecksPassed(boot.result());
        System.out.println(TestDeviceHost.guestLines(run.console()) + "\nQEMU ran " + run.millis() + " ms; host: "
                + boot.result().hostOutcome());
    }

    @Test
    void bytesCrossTheRamBarBothWaysWithoutCrossingTheSocket() {
        Matcher bars = BARS.matcher(boot.run().console());
        assertTrue(bars.find(), QemuRig.tail(boot.run().console()));
        assertTrue(Long.parseUnsignedLong(bars.group(2), 16) >= 4L << 30, "BAR2 was placed above 4 GiB, as jvmm places it: 0x" + bars.group(2));
        TestDeviceHost.assertRamBothWays(boot.result());
        TestDeviceHost.Accesses a = TestDeviceHost.guestAccesses(boot.run().console());
        assertEquals(0, boot.bar2Accesses(), "BAR2 is mapped by the client: none of the guest's " + a.bar2() + " accesses crossed the socket");
    }

    @Test
    void everyDoorbellReachesTheEventfd() {
        TestDeviceHost.assertDoorbells(boot.result());
        TestDeviceHost.Accesses a = TestDeviceHost.guestAccesses(boot.run().console());
        // Over vfio-user every BAR0 access is trapped (the MSI-X table is QEMU's own): each doorbell
        // was one REGION_WRITE, matched as the I/O event, and each register read one REGION_READ.
        assertEquals(a.bar0Reads() + a.doorbells(), boot.bar0Accesses(), "REGION_READ/WRITE for BAR0: the guest made "
                + a.bar0Reads() + " reads and " + a.doorbells() + " doorbell writes");
        System.out.println("jvmm-testdev over vfio-user: " + boot.bar0Accesses() + " REGION_READ/WRITE for BAR0 (guest: " + a.bar0Reads()
                + " reads, " + a.doorbells() + " doorbells), " + boot.bar2Accesses() + " for BAR2 (guest: " + a.bar2() + " accesses)");
    }

    @Test
    void theHostsRaiseArrivesAsTheGuestsInterrupt() {
        TestDeviceHost.assertInterrupt(boot.result());
        assertEquals(1, boot.interruptsDelivered(), "the server signalled QEMU's eventfd for the vector once");
    }
}
