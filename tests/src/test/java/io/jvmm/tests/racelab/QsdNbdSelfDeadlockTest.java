package io.jvmm.tests.racelab;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.jvmm.devices.nbd.NbdServer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Race (c) on the historic software ({@link QsdNbdSelfDeadlock}): Debian 12's qemu-storage-daemon
 * 7.2 hangs for good when it opens a qcow2 backed by its own NBD export, and shrugs off SIGTERM;
 * the same two halves in two daemons start at once. jvmm's cells ({@link JvmmNbdSelfServed}): by
 * default the same set-up opens; with {@code x-nbd-listener=main-loop} it hangs until the open's
 * timeout and the watchdog names the listener.
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class QsdNbdSelfDeadlockTest {
    private static final Duration BOUND = Duration.ofSeconds(5);

    @TempDir
    Path dir;

    @Test
    void qemuStorageDaemon72HangsOnItsOwnExportAndIgnoresSigterm() throws Exception {
        assumeTrue(Files.isExecutable(QsdNbdSelfDeadlock.QSD) && Files.isExecutable(QsdNbdSelfDeadlock.QEMU_IMG),
                "qemu-storage-daemon (qemu-system-common) and qemu-img (qemu-utils) are not installed (scripts/test installs them)");
        QsdNbdSelfDeadlock.Outcome self = QsdNbdSelfDeadlock.selfServed(Files.createDirectory(dir.resolve("self")), BOUND);
        assertFalse(self.completed(), () -> "the daemon started although it serves its own backing file: " + self);
        assertFalse(self.qmpAnswered(), () -> "its main loop is blocked: QMP does not answer: " + self);
        assertTrue(self.ignoredSigterm(), () -> "it ignores SIGTERM (killed with SIGKILL): " + self);

        QsdNbdSelfDeadlock.Outcome control = QsdNbdSelfDeadlock.separateServer(Files.createDirectory(dir.resolve("two")), BOUND);
        assertTrue(control.completed(), () -> "with the export in another daemon it starts: " + control);
        System.out.printf("%s: self-served export hung (no start within %d ms, QMP silent, SIGTERM ignored); two daemons: started in %d ms%n",
                QsdNbdSelfDeadlock.version(), BOUND.toMillis(), control.millis());
    }

    @Test
    void jvmmOpensItsOwnExportByDefaultAndHangsWithTheListenerOnTheMainLoop() throws Exception {
        assumeTrue(Files.isExecutable(QsdNbdSelfDeadlock.QEMU_IMG), "qemu-img (qemu-utils) is not installed (scripts/test installs it)");
        JvmmNbdSelfServed.Outcome byDefault = JvmmNbdSelfServed.start(Files.createDirectory(dir.resolve("own")),
                NbdServer.Listener.OWN_LOOP, Duration.ofSeconds(30));
        assertTrue(byDefault.completed(), () -> "jvmm opened the qcow2 over its own export: " + byDefault);
        assertFalse(byDefault.watchdogNamedListener(), byDefault::toString);
        JvmmNbdSelfServed.Outcome mainLoop = JvmmNbdSelfServed.start(Files.createDirectory(dir.resolve("main")),
                NbdServer.Listener.MAIN_LOOP, Duration.ofSeconds(3));
        assertFalse(mainLoop.completed(), () -> "x-nbd-listener=main-loop no longer deadlocks, so the switch shows nothing: " + mainLoop);
        assertTrue(mainLoop.watchdogNamedListener(), () -> "the watchdog named the listener on the main loop: " + mainLoop);
    }
}
