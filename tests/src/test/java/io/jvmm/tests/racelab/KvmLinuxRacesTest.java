package io.jvmm.tests.racelab;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.jvmm.emulator.machine.KvmMachine;
import io.jvmm.platform.config.MachineConfig;
import io.jvmm.tests.kvm.KvmAvailable;
import io.jvmm.tests.kvm.KvmConfig;
import io.jvmm.tests.kvm.LinuxGuestImage;
import io.jvmm.tests.vfiouser.QemuRig;
import io.jvmm.tests.vhost.BackendProcess;
import io.jvmm.chardev.Await;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * jvmm's row of races (a) and (b) with a real Linux guest: the guest, script, devices and
 * back-ends of {@link HistoricQemuRacesTest} (both windows widened, device b's back-end dropping
 * kicks on a disabled ring), booted by jvmm under KVM, where Linux masks the MSI-X entries of
 * jvmm's own table. Nothing may be lost. Runs where the host's KVM boots a stock kernel; skipped
 * elsewhere (no /dev/kvm, or KVM's PVM flavour) with the reason.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class KvmLinuxRacesTest {
    @TempDir
    Path dir;

    @Test
    void jvmmUnderKvmLosesNothing() throws Exception {
        KvmAvailable.assumeStockLinuxBoots();
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx------"));
        RaceGuestScripts.Plan plan = new RaceGuestScripts.Plan(8, 0, 100, 0);
        // jvmm puts PCI devices in slots 1, 2, ... in command-line order
        Path initrd = QemuRig.initrdWith(LinuxGuestImage.initrd(), RaceGuestScripts.script(plan, 1, 2), dir.resolve("initrd"));
        Path a = dir.resolve("rng-a.sock");
        Path b = dir.resolve("rng-b.sock");
        try (BackendProcess backendA = BackendProcess.start(a, "rng-a", 1, RaceLabFaults.WIDENED_CALL, false);
             BackendProcess backendB = BackendProcess.start(b, "rng-b", 1, RaceLabFaults.WIDENED_ENABLE_DROPPING_KICKS, false)) {
            Await.until(() -> Files.exists(a) && Files.exists(b), Duration.ofSeconds(60), () -> "the back-ends listening");
            MachineConfig config = KvmConfig.parse("512", "2", LinuxGuestImage.kernel(), initrd, "console=ttyS0 quiet panic=-1", true,
                    List.of("memory-backend-memfd,id=mem,size=512M,share=on"),
                    List.of("socket,id=va,path=" + a, "socket,id=vb,path=" + b), List.of(),
                    List.of("vhost-user-rng-pci,id=rnga,chardev=va", "vhost-user-rng-pci,id=rngb,chardev=vb",
                            "isa-debug-exit,iobase=0x501,iosize=2"));
            ByteArrayOutputStream console = new ByteArrayOutputStream();
            int status;
            try (KvmMachine machine = KvmMachine.create(config, console)) {
                status = machine.run().status();
            }
            String out = console.toString(StandardCharsets.UTF_8);
            GuestRaceReport r = GuestRaceReport.parse(out);
            assertEquals(1, status, () -> "the guest script finished:\n" + QemuRig.tail(out));
            assertEquals(plan.enableRounds(), r.rounds(), () -> QemuRig.tail(out));
            assertEquals(0, r.roundsLost(), () -> "jvmm under KVM lost a first request:\n" + QemuRig.tail(out));
            assertEquals(plan.flips(), r.flips(), () -> QemuRig.tail(out));
            assertEquals(0, r.flipsLost(), () -> "jvmm under KVM lost an interrupt:\n" + QemuRig.tail(out));
        }
    }
}
