package io.jvmm.tests.fs;

import io.jvmm.tests.support.ProblemLog;
import io.jvmm.chardev.SocketChardevSpec;
import io.jvmm.devices.fs.VhostUserFsDevice;
import io.jvmm.devices.fs.VhostUserFsOptions;
import io.jvmm.devices.rng.RngDevice;
import io.jvmm.testkit.driver.GuestDriverException;
import io.jvmm.testkit.TestMachine;
import io.jvmm.testkit.driver.Guest;
import io.jvmm.testkit.driver.Poll;
import io.jvmm.testkit.driver.fs.FsProtocol;
import io.jvmm.testkit.driver.fs.VirtioFsDriver;
import io.jvmm.testkit.driver.pci.PciFunction;
import io.jvmm.testkit.driver.rng.VirtioRngDriver;
import io.jvmm.testkit.driver.virtio.QueueSetup;
import io.jvmm.testkit.driver.virtio.VirtioPciDriver;
import io.jvmm.virtio.vhost.VhostUserException;
import io.jvmm.virtio.vhost.VhostUserRequest;
import io.jvmm.virtio.vhost.backend.BackendFaults;
import io.jvmm.virtio.vhost.backend.FillingDevice;
import io.jvmm.virtio.vhost.backend.ReplyFault;
import io.jvmm.virtio.vhost.backend.VhostUserBackend;
import io.jvmm.virtio.vhost.frontend.VhostUserDevice;
import io.jvmm.virtio.vhost.frontend.VhostUserDeviceOptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 6, must-show 5, second half: vhost-user-fs-pci against the fault-injecting Java
 * back-end (the front-end cannot tell it from virtiofsd: it only sees vhost-user replies).
 * What {@code tests/vhost/BackendFailureTest} already shows (every reply fault on SET_VRING_CALL
 * at DRIVER_OK, a close and a stall mid-handshake, the error fd) is not repeated; this adds the
 * moments it does not cover: the handshake inside realize (rule 6: a spoiled reply means no
 * device, with an error naming the back-end, the message and what was wrong with the reply),
 * a guest's MSI-X mask, and the guest's device reset.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class FaultyFsBackendTest {
    private static final Duration REPLY_TIMEOUT = VhostUserDeviceOptions.DEFAULT_REPLY_TIMEOUT;
    /** A guest-visible operation may wait for one reply timeout; longer would be a hang. */
    private static final long BOUND_MS = REPLY_TIMEOUT.toMillis() + 3000;
    /** The file-system device: the high-priority queue and one request queue. */
    private static final int QUEUES = 2;

    @TempDir
    Path dir;

    private Path socket() {
        return dir.resolve("faulty-fs.sock");
    }

    private String peer() {
        return "vhost-user back-end of fs0 (chardev 'c0', client of " + socket() + ")";
    }

    private VhostUserBackend backend(BackendFaults faults) {
        return VhostUserBackend.startServer(socket(), "faulty-fs", new FillingDevice(QUEUES, new byte[0]), faults);
    }

    private VhostUserDevice realize() {
        return VhostUserFsDevice.realize(new VhostUserFsOptions("fs0", SocketChardevSpec.client("c0", socket()), "faulty", 1, 16, true));
    }

    private static long timedMs(Runnable work) {
        long t0 = System.nanoTime();
        work.run();
        return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
    }

    /** A spoiled reply to each handshake request that carries a payload, and what the error must say. */
    static Stream<Arguments> handshakeFaults() {
        List<Arguments> cases = new ArrayList<>();
        for (VhostUserRequest r : List.of(VhostUserRequest.GET_FEATURES, VhostUserRequest.GET_PROTOCOL_FEATURES, VhostUserRequest.GET_QUEUE_NUM)) {
            cases.add(Arguments.of(r, ReplyFault.SHORT, "reply to " + r + " has a 4-byte payload"));
            cases.add(Arguments.of(r, ReplyFault.MALFORMED, r + " with protocol version 2"));
            cases.add(Arguments.of(r, ReplyFault.WRONG_REQUEST, "reply to " + r + " is marked as a reply to GET_"));
            cases.add(Arguments.of(r, ReplyFault.UNEXPECTED_FD, "reply to " + r + " carries 1 unexpected fd"));
        }
        // A "refusal" of a GET is a well-formed reply with the value 1: an answer the device cannot use.
        cases.add(Arguments.of(VhostUserRequest.GET_FEATURES, ReplyFault.REFUSE, "does not offer VIRTIO_F_VERSION_1 (features 0x1)"));
        cases.add(Arguments.of(VhostUserRequest.GET_QUEUE_NUM, ReplyFault.REFUSE, "supports 1 queues, the device needs 2"));
        cases.add(Arguments.of(VhostUserRequest.GET_QUEUE_NUM, ReplyFault.NO_REPLY, "no reply to GET_QUEUE_NUM within " + REPLY_TIMEOUT.toMillis() + " ms"));
        return cases.stream();
    }

    @ParameterizedTest(name = "{1} reply to {0}")
    @MethodSource("handshakeFaults")
    void aSpoiledHandshakeReplyMeansNoDeviceAndAClearError(VhostUserRequest request, ReplyFault fault, String problem) throws Exception {
        try (VhostUserBackend backend = backend(BackendFaults.NONE.withReplyFault(fault, request, 1))) {
            long t0 = System.nanoTime();
            VhostUserException e = assertThrows(VhostUserException.class, () -> realize().close());
            long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
            assertTrue(e.getMessage().startsWith(peer() + ": "), e.getMessage());
            assertTrue(e.getMessage().contains(problem), () -> "expected '" + problem + "' in: " + e.getMessage());
            assertTrue(ms < BOUND_MS, "realize failed after " + ms + " ms");
            // Not half-realised: the failed device let go of its back-end.
            assertTrue(backend.awaitEnd(Duration.ofSeconds(5)), "the back-end's connection was closed by the front-end");
        }
    }

    /** A no-CPU machine with the vhost-user-fs-pci device and a virtio-rng beside it. */
    private record Bed(TestMachine machine, VirtioFsDriver fs, VirtioRngDriver other) implements AutoCloseable {
        static Bed create(VhostUserDevice device) {
            TestMachine m = new TestMachine(64L << 20);
            m.addVirtio(device);
            m.addVirtio(new RngDevice("rng1"));
            Guest g = Guest.of(m);
            List<PciFunction> functions = g.enumerate();
            return new Bed(m, new VirtioFsDriver(probe(g, functions, FsProtocol.DEVICE_TYPE)),
                    new VirtioRngDriver(probe(g, functions, VirtioRngDriver.DEVICE_TYPE)));
        }

        private static VirtioPciDriver probe(Guest g, List<PciFunction> functions, int type) {
            PciFunction fn = functions.stream().filter(f -> f.deviceId() == VirtioPciDriver.MODERN_DEVICE_ID_BASE + type).findFirst()
                    .orElseThrow(() -> new AssertionError("no virtio device of type " + type + ": " + functions));
            VirtioPciDriver d = VirtioPciDriver.probe(g, fn);
            d.setTimeout(Duration.ofSeconds(20));
            return d;
        }

        void assertOtherDeviceWorks() {
            other.initialize();
            assertEquals(256, other.read(256).length, "the virtio-rng beside the broken device works on");
        }

        @Override
        public void close() {
            machine.close();
        }
    }

    private Bed bed(VhostUserBackend backend) {
        return Bed.create(realize());
    }

    @ParameterizedTest(name = "{0} reply to the mask's SET_VRING_CALL")
    @EnumSource(value = ReplyFault.class, names = {"SHORT", "MALFORMED", "UNEXPECTED_FD", "REFUSE"})
    void aSpoiledReplyToTheGuestsMaskBreaksOnlyThisDevice(ReplyFault fault) {
        // DRIVER_OK sends one SET_VRING_CALL per queue; the third is the one the mask causes.
        try (ProblemLog log = new ProblemLog();
             VhostUserBackend backend = backend(BackendFaults.NONE.withReplyFault(fault, VhostUserRequest.SET_VRING_CALL, QUEUES + 1));
             Bed bed = bed(backend)) {
            bed.fs.initialize(1, QueueSetup.size(16));
            assertTrue(!bed.fs.device().needsReset(), "the device works before the fault");
            int vector = bed.fs.device().queueVector(FsProtocol.FIRST_REQUEST_QUEUE);
            long configInterrupts = bed.fs.device().configInterrupts();
            long ms = timedMs(() -> bed.fs.device().msix().mask(vector));
            assertTrue(ms < BOUND_MS, "the guest's mask write completed after " + ms + " ms");
            Poll.until(bed.fs.device()::needsReset, Duration.ofSeconds(5), () -> "DEVICE_NEEDS_RESET after a " + fault + " reply");
            assertTrue(bed.fs.device().awaitConfigInterrupt(configInterrupts, Duration.ofSeconds(5)), "announced by the configuration interrupt");
            assertTrue(log.anyContainsAll(peer(), "SET_VRING_CALL (vring 1", "masked notifier"),
                    () -> "no log line names the back-end, the message and its purpose: " + log.problems());
            assertTrue(timedMs(() -> bed.fs.device().msix().unmask(vector)) < BOUND_MS, "the unmask is bounded too");
            bed.assertOtherDeviceWorks();
        }
    }

    /**
     * The spoiled reply fails the connection while the guest resets the device; the failure may
     * reach the transport after the reset completed. It must not set DEVICE_NEEDS_RESET on the
     * freshly reset device: status would read 0x40 from then on, and a driver waiting for 0
     * (Linux's vp_reset has no timeout) would wait forever. This failed in about half the runs
     * before VirtioPciDevice.markBroken ignored faults during and after a reset.
     */
    @ParameterizedTest(name = "{0} reply to GET_VRING_BASE")
    @EnumSource(value = ReplyFault.class, names = {"SHORT", "MALFORMED", "WRONG_REQUEST", "NO_REPLY"})
    void aSpoiledReplyDuringTheGuestsResetStillLetsTheResetComplete(ReplyFault fault) {
        try (ProblemLog log = new ProblemLog();
             VhostUserBackend backend = backend(BackendFaults.NONE.withReplyFault(fault, VhostUserRequest.GET_VRING_BASE, 1));
             Bed bed = bed(backend)) {
            bed.fs.initialize(1, QueueSetup.size(16));
            long ms = timedMs(bed.fs::reset);   // returns once device_status reads 0
            assertTrue(ms < BOUND_MS, "the reset completed after " + ms + " ms");
            assertTrue(log.anyContainsAll(peer(), "GET_VRING_BASE (vring 0"),
                    () -> "no log line names the back-end and GET_VRING_BASE: " + log.problems());
            assertTrue(log.anyContainsAll("fs0: back-end did not complete the device reset"), () -> log.problems().toString());
            // The connection is spoiled for good: the next driver's FEATURES_OK is refused, in bounds.
            long t0 = System.nanoTime();
            GuestDriverException refused = assertThrows(GuestDriverException.class, () -> bed.fs.initialize(1, QueueSetup.size(16)));
            ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
            assertTrue(ms < BOUND_MS, "re-initialisation took " + ms + " ms");
            assertTrue(refused.getMessage().contains("refused features"), () -> "a device whose back-end broke the protocol "
                    + "refuses a new driver: " + refused);
            bed.assertOtherDeviceWorks();
        }
    }

    @Test
    void aWellBehavedBackendGivesAWorkingDevice() throws Exception {
        // The control for the tests above: the same set-up without a fault neither breaks nor logs.
        try (ProblemLog log = new ProblemLog(); VhostUserBackend backend = backend(BackendFaults.NONE); Bed bed = bed(backend)) {
            for (int round = 0; round < 3; round++) {
                bed.fs.initialize(1, QueueSetup.size(16));
                int vector = bed.fs.device().queueVector(FsProtocol.FIRST_REQUEST_QUEUE);
                bed.fs.device().msix().mask(vector);
                bed.fs.device().msix().unmask(vector);
                bed.fs.reset();
            }
            bed.fs.initialize(1, QueueSetup.size(16));
            assertTrue(!bed.fs.device().needsReset(), () -> "broken without a fault: " + log.problems());
            assertEquals(List.of(), log.problems());
        }
    }
}
