package io.jvmm.tests.racelab;

import io.jvmm.chardev.Await;
import io.jvmm.tests.vfiouser.QemuRig;
import io.jvmm.tests.vhost.BackendProcess;
import io.jvmm.virtio.vhost.backend.BackendFaults;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Races (a) and (b) on a real QEMU: Debian's kernel (the rig's guest image) under TCG with two
 * vCPUs and two {@code vhost-user-rng-pci} devices with two MSI-X vectors each, whose back-ends
 * are the Java back-end library in separate processes: device a (slot {@value RaceGuestScripts#SLOT_A},
 * race (a)) and device b (slot {@value RaceGuestScripts#SLOT_B}, race (b)), each with its own
 * faults, so that a back-end that drops kicks for race (b) cannot starve race (a)'s reader; and
 * {@link RaceGuestScripts} in the guest. The historic software is the host's QEMU 7.2 (Debian 12's qemu-system-x86), the
 * fixed upstream the rig's QEMU 11.1 (trixie-backports), both with the same guest and back-end.
 */
public final class QemuRaces {
    /** The two QEMUs. */
    public enum Qemu {
        HISTORIC("QEMU 7.2 (Debian 12)"), FIXED("QEMU 11.1 (trixie-backports)");

        public final String label;

        Qemu(String label) {
            this.label = label;
        }
    }

    /** One guest run: what the guest reported and what each back-end saw. */
    public record Run(Qemu qemu, String qemuVersion, BackendFaults faultsA, BackendFaults faultsB, GuestRaceReport report,
                      String backendStatsA, String backendStatsB, int exitStatus, long millis, String console) {
        /** Protocol features device a's session agreed on, from its back-end's statistics. */
        public String protocolFeaturesA() {
            return BackendStatsLine.value(backendStatsA, "protocol");
        }

        public String protocolFeaturesB() {
            return BackendStatsLine.value(backendStatsB, "protocol");
        }

        /** For an assertion's message: the version, both back-ends' statistics, then the console's tail. */
        public String why() {
            return qemuVersion + ", back-end a " + backendStatsA + ", back-end b " + backendStatsB + "\n" + QemuRig.tail(console);
        }
    }

    private QemuRaces() {
    }

    /**
     * Boots {@code qemu} once with device a's back-end serving under {@code faultsA}, device b's
     * under {@code faultsB}, and the guest running {@code plan}. {@code dir} must be an empty
     * directory of ours (sockets and images go there).
     *
     * @throws AssertionError if the guest or the back-end fails outright (not for a race lost)
     */
    public static Run run(Qemu qemu, Path dir, BackendFaults faultsA, BackendFaults faultsB, RaceGuestScripts.Plan plan)
            throws IOException, InterruptedException {
        QemuRig rig = QemuRig.get();
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx------"));
        long timeout = 300 + plan.flips() * 2L + plan.enableRounds() * 10L;
        try (BackendProcess a = listening(dir.resolve("rng-a.sock"), "rng-a", faultsA);
             BackendProcess b = listening(dir.resolve("rng-b.sock"), "rng-b", faultsB)) {
            String at = qemu == Qemu.HISTORIC ? dir.toString() : "/run/jvmm";
            List<String> args = List.of(
                    "-chardev", "socket,id=va,path=" + at + "/rng-a.sock",
                    "-device", "vhost-user-rng-pci,chardev=va,vectors=2,addr=" + RaceGuestScripts.SLOT_A,
                    "-chardev", "socket,id=vb,path=" + at + "/rng-b.sock",
                    "-device", "vhost-user-rng-pci,chardev=vb,vectors=2,addr=" + RaceGuestScripts.SLOT_B);
            String script = RaceGuestScripts.script(plan);
            QemuRig.GuestRun r = qemu == Qemu.HISTORIC ? rig.bootHostQemu(dir, script, args, timeout) : rig.boot(dir, script, args, timeout);
            String version = qemu == Qemu.HISTORIC ? hostQemuVersion() : rig.qemuVersion();
            return new Run(qemu, version, faultsA, faultsB, GuestRaceReport.parse(r.console()), stats(a), stats(b), r.exitStatus(),
                    r.millis(), r.console());
        }
    }

    private static BackendProcess listening(Path socket, String name, BackendFaults faults) {
        BackendProcess backend = BackendProcess.start(socket, name, 1, faults, false);
        Await.until(() -> Files.exists(socket) || !backend.isAlive(), Duration.ofSeconds(60), () -> name + " listening on " + socket);
        if (!backend.isAlive()) {
            backend.close();
            throw new AssertionError(name + " exited before listening:\n" + backend.output());
        }
        return backend;
    }

    /** The statistics a back-end logs once QEMU's connection has ended. */
    private static String stats(BackendProcess backend) throws InterruptedException {
        if (!backend.awaitExit(Duration.ofSeconds(20))) {
            throw new AssertionError("a back-end did not end with QEMU's connection:\n" + backend.output());
        }
        String stats = backend.sessionStats();
        if (stats == null) {
            throw new AssertionError("a back-end logged no session statistics:\n" + backend.output());
        }
        return stats;
    }

    private static String hostQemuVersion;

    /** The first line of the host QEMU's --version ("QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)"). */
    public static synchronized String hostQemuVersion() throws IOException, InterruptedException {
        if (hostQemuVersion == null) {
            Process p = new ProcessBuilder(QemuRig.HOST_QEMU.toString(), "--version").redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
                throw new AssertionError(QemuRig.HOST_QEMU + " --version failed: " + out);
            }
            hostQemuVersion = out.lines().findFirst().orElse("?").replace("QEMU emulator version ", "");
        }
        return hostQemuVersion;
    }
}
