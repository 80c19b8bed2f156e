package io.jvmm.tests.racelab;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

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
 * the same two halves in two daemons start at once. (jvmm's cells of this row come with its NBD
 * back-end and its {@code x-nbd-listener=main-loop} switch.)
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
}
