package io.jvmm.tests.racelab;

import io.jvmm.chardev.Await;
import io.jvmm.pci.msix.MsiMessage;
import io.jvmm.testkit.TestMachine;
import io.jvmm.testkit.driver.Guest;
import io.jvmm.testkit.driver.GuestInterrupts;
import io.jvmm.testkit.driver.Poll;
import io.jvmm.testkit.driver.pci.MsixDriver;
import io.jvmm.testkit.driver.rng.VirtioRngDriver;
import io.jvmm.testkit.driver.virtio.Chain;
import io.jvmm.testkit.driver.virtio.QueueSetup;
import io.jvmm.testkit.driver.virtio.SplitQueue;
import io.jvmm.testkit.driver.virtio.VirtioPciDriver;
import io.jvmm.tests.vhost.BackendProcess;
import io.jvmm.virtio.vhost.backend.BackendFaults;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Races (a) and (b) on jvmm: the same device type (vhost-user-rng-pci) and the same back-end (the
 * Java back-end library in a separate process, with the same faults) as on QEMU, on the no-CPU
 * machine, the guest played by the test kit's drivers the way Linux drives the device. (A guest
 * of the vfio-user rig cannot serve here: QEMU emulates the MSI-X table of a vfio-user device
 * itself, so jvmm never sees the guest's masking.)
 *
 * <ul>
 * <li>Race (a), {@link #affinityFlips}: a reader thread reads entropy without end (one 64-byte
 *     request at a time, the next one published as soon as the previous one's interrupt arrived,
 *     as Linux's virtio-rng does), while the flipping thread moves the queue's vector as Linux
 *     moves an interrupt to another CPU: mask the MSI-X entry, write the new message (another
 *     destination), unmask ({@code __pci_write_msi_msg}). After each move the reader must make
 *     progress; one that makes none within {@link RaceGuestScripts#SUSPECT_MS} plus
 *     {@link RaceGuestScripts#GRACE_MS} lost its interrupt; a toggle of the function mask then
 *     revives it, as in the Linux guest's script.</li>
 * <li>Race (b), {@link #firstKickRounds}: each round resets and initialises the device and
 *     publishes the first request right after DRIVER_OK, as Linux's virtio-rng probe does; a
 *     request not completed within the same bound is lost.</li>
 * </ul>
 */
public final class JvmmRaces {
    private static final int REQUEST_BYTES = 64;

    private JvmmRaces() {
    }

    /** Race (a)'s result. */
    public record Flips(int flips, int lost, boolean stuck, long completions, String backendStats, long millis) {
    }

    /** Race (b)'s result. */
    public record Rounds(int rounds, int lost, String backendStats, long millis) {
    }

    /** The machine, its device and its back-end for one experiment. */
    private static final class Bed implements AutoCloseable {
        final BackendProcess backend;
        final TestMachine machine;
        final VirtioPciDriver driver;

        Bed(Path dir, BackendFaults faults, boolean syncVring) throws IOException {
            Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx------"));
            Path socket = dir.resolve("rng.sock");
            backend = BackendProcess.start(socket, "rng", 1, faults, false);
            try {
                Await.until(() -> Files.exists(socket) || !backend.isAlive(), Duration.ofSeconds(60),
                        () -> "the back-end listening on " + socket);
                machine = TestMachine.builder().option("-chardev", "socket,id=c0,path=" + socket)
                        .device("vhost-user-rng-pci,id=vrng0,chardev=c0,x-sync-vring=" + (syncVring ? "on" : "off")).build();
            } catch (RuntimeException | Error e) {
                backend.close();
                throw e;
            }
            driver = VirtioPciDriver.probeFirst(Guest.of(machine), VirtioRngDriver.DEVICE_TYPE);
        }

        /** Closes the machine (the connection ends), then reads the back-end's statistics. */
        String closeAndStats() throws InterruptedException {
            machine.close();
            if (!backend.awaitExit(Duration.ofSeconds(20))) {
                throw new AssertionError("the back-end did not end with the connection:\n" + backend.output());
            }
            return backend.sessionStats();
        }

        @Override
        public void close() {
            machine.close();
            backend.close();
        }
    }

    /**
     * Race (a): {@code flips} moves of the queue's vector while a reader reads, stopping after
     * {@code stopAfterLosses} lost interrupts (0: never).
     */
    public static Flips affinityFlips(Path dir, BackendFaults faults, boolean syncVring, int flips, int stopAfterLosses)
            throws IOException, InterruptedException {
        long start = System.nanoTime();
        try (Bed bed = new Bed(dir, faults, syncVring)) {
            SplitQueue q = bed.driver.initialize(VirtioRngDriver.WANTED_FEATURES, List.of(QueueSetup.deviceMax())).get(0);
            MsixDriver msix = bed.driver.msix();
            GuestInterrupts interrupts = bed.driver.guest().interrupts();
            int vector = bed.driver.queueVector(0);
            MsiMessage[] destinations = {q.message(), interrupts.allocateMessage()};
            AtomicReference<MsiMessage> current = new AtomicReference<>(destinations[0]);
            AtomicLong progress = new AtomicLong();
            AtomicReference<Throwable> readerFailure = new AtomicReference<>();
            Reader reader = new Reader(bed.driver, q, destinations, current, progress);
            Thread thread = new Thread(() -> {
                try {
                    reader.run();
                } catch (Throwable t) {
                    readerFailure.set(t);
                }
            }, "race-a-reader");
            thread.start();
            int done = 0;
            int lost = 0;
            boolean stuck = false;
            try {
                if (!awaitProgress(progress, 3, Duration.ofSeconds(10))) {
                    throw new AssertionError("the reader makes no progress before any flip: " + q.describeState());
                }
                for (; done < flips && !stuck && (stopAfterLosses <= 0 || lost < stopAfterLosses); done++) {
                    long target = progress.get() + 3;
                    MsiMessage next = destinations[(done + 1) % 2];
                    msix.mask(vector);        // Linux's __pci_write_msi_msg on an unmasked entry
                    msix.program(vector, next);
                    msix.unmask(vector);
                    current.set(next);
                    if (awaitProgress(progress, target, Duration.ofMillis(RaceGuestScripts.SUSPECT_MS + RaceGuestScripts.GRACE_MS))) {
                        continue;
                    }
                    lost++;
                    stuck = !recover(msix, progress);
                }
            } finally {
                reader.stop = true;
                thread.join(Await.HANG_GUARD.toMillis());
            }
            if (readerFailure.get() != null) {
                throw new AssertionError("the reader failed", readerFailure.get());
            }
            String stats = bed.closeAndStats();
            return new Flips(done, lost, stuck, progress.get(), stats, (System.nanoTime() - start) / 1_000_000);
        }
    }

    /** A toggle of the function mask (every vector masked and unmasked) until the reader moves again. */
    private static boolean recover(MsixDriver msix, AtomicLong progress) {
        for (int r = 0; r < 5; r++) {
            long target = progress.get() + 1;
            msix.setFunctionMask(true);
            msix.setFunctionMask(false);
            if (awaitProgress(progress, target, Duration.ofMillis(500))) {
                return true;
            }
        }
        return false;
    }

    private static boolean awaitProgress(AtomicLong progress, long target, Duration bound) {
        return Poll.await(() -> progress.get() >= target, bound);
    }

    /** The reading "CPU": one request at a time, each taken once an interrupt followed its completion. */
    private static final class Reader {
        private final VirtioPciDriver driver;
        private final SplitQueue q;
        private final MsiMessage[] destinations;
        private final AtomicReference<MsiMessage> current;
        private final AtomicLong progress;
        volatile boolean stop;

        Reader(VirtioPciDriver driver, SplitQueue q, MsiMessage[] destinations, AtomicReference<MsiMessage> current, AtomicLong progress) {
            this.driver = driver;
            this.q = q;
            this.destinations = destinations;
            this.current = current;
            this.progress = progress;
        }

        private long interrupts() {
            GuestInterrupts irq = driver.guest().interrupts();
            return irq.count(destinations[0]) + irq.count(destinations[1]);
        }

        void run() {
            GuestInterrupts irq = driver.guest().interrupts();
            long buffer = driver.guest().pages().allocate(REQUEST_BYTES);
            while (!stop) {
                long seen = interrupts();
                q.add(Chain.create().writable(buffer, REQUEST_BYTES), progress.get());
                q.kick();
                while (!stop) {
                    long now = interrupts();
                    if (now > seen) {
                        seen = now;
                        if (q.usedPending() > 0) {
                            break;   // an interrupt after the completion: the driver sees it
                        }
                        continue;    // a late interrupt from before: keep waiting for ours
                    }
                    MsiMessage m = current.get();
                    irq.awaitMoreThan(m, irq.count(m), Duration.ofMillis(5));
                }
                if (stop) {
                    return;
                }
                if (q.takeUsed().size() != 1) {
                    throw new AssertionError("one request was in flight, the used ring gave back another number: " + q.describeState());
                }
                progress.incrementAndGet();
            }
        }
    }

    /**
     * Race (b): {@code rounds} initialisations, each followed at once by a first request,
     * stopping after {@code stopAfterLosses} lost ones (0: never).
     */
    public static Rounds firstKickRounds(Path dir, BackendFaults faults, boolean syncVring, int rounds, int stopAfterLosses)
            throws IOException, InterruptedException {
        long start = System.nanoTime();
        try (Bed bed = new Bed(dir, faults, syncVring)) {
            long buffer = bed.driver.guest().pages().allocate(REQUEST_BYTES);
            int done = 0;
            int lost = 0;
            for (; done < rounds && (stopAfterLosses <= 0 || lost < stopAfterLosses); done++) {
                SplitQueue q = bed.driver.initialize(VirtioRngDriver.WANTED_FEATURES, List.of(QueueSetup.deviceMax())).get(0);
                q.add(Chain.create().writable(buffer, REQUEST_BYTES), "first request of round " + done);
                q.kick();   // right after DRIVER_OK, as Linux's virtio-rng probe
                if (!Poll.await(() -> q.usedPending() > 0, Duration.ofMillis(RaceGuestScripts.SUSPECT_MS + RaceGuestScripts.GRACE_MS))) {
                    lost++;
                }
            }
            String stats = bed.closeAndStats();
            return new Rounds(done, lost, stats, (System.nanoTime() - start) / 1_000_000);
        }
    }
}
