package io.jvmm.testkit.junit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;

import io.jvmm.chardev.Await;
import io.jvmm.testkit.TestMachine;
import io.jvmm.testkit.driver.virtio.QueueSetup;
import io.jvmm.testkit.driver.virtio.SplitQueue;
import io.jvmm.testkit.driver.virtio.VirtioPciDriver;
import io.jvmm.virtio.DeviceStatus;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.ParameterResolutionException;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.testkit.engine.EngineExecutionResults;
import org.junit.platform.testkit.engine.EngineTestKit;
import org.junit.platform.testkit.engine.Event;
import org.opentest4j.AssertionFailedError;

/**
 * The extension seen from outside: deliberately failing test classes (nested here, so the build
 * does not run them itself) are run through JUnit's EngineTestKit, and their failures are looked
 * at: the report a failed device test carries, and the clear errors of a bad machine.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class JvmmFailureReportTest {

    /** A device test that fails because the guest broke the device: its report must say so. */
    @JvmmMachine(options = {"-device", "jvmm-test-sink,id=sink0", "-device", "jvmm-test-sink,id=sink1"})
    @ExtendWith(OnlyThroughEngineTestKit.class)
    static class BrokenDevice {
        @Test
        void theGuestBreaksTheRing(@DeviceId("sink0") VirtioPciDriver sink) {
            SplitQueue q = sink.initialize(0, List.of(QueueSetup.deviceMax())).get(0);
            q.rawSetAvailIndex(q.availIndex() + q.size() + 1);   // a guest mistake: more buffers than the ring holds
            q.notifyDevice();
            Await.until(sink::needsReset, "sink0 to set DEVICE_NEEDS_RESET");
            assertEquals(0, sink.status() & DeviceStatus.DEVICE_NEEDS_RESET, "sink0 works");   // fails: the point of the test
        }
    }

    @Test
    void aFailedDeviceTestCarriesTheDevicesStatusFaultAndLog() {
        Throwable failure = onlyFailure(run(BrokenDevice.class));
        assertInstanceOf(AssertionFailedError.class, failure, "the test's own failure is what is thrown");
        assertTrue(failure.getMessage().startsWith("sink0 works"), failure.getMessage());
        MachineReport report = report(failure);
        String text = report.getMessage();
        assertTrue(text.contains("sink0 (slot "), text);
        assertTrue(text.lines().anyMatch(l -> l.contains("sink0 (slot") && l.contains("jvmm-sink")
                && l.contains("DRIVER_OK") && l.contains("[DEVICE_NEEDS_RESET]") && l.contains("last fault: ")
                && l.contains("avail index")), "sink0's line: status with DEVICE_NEEDS_RESET and the fault:\n" + text);
        assertTrue(text.lines().anyMatch(l -> l.contains("sink1 (slot") && l.contains("status 0x0 RESET") && l.contains("last fault: none")),
                "the other device, untouched:\n" + text);
        assertTrue(text.contains("MSI-X enabled"), text);
        assertTrue(text.lines().anyMatch(l -> l.contains("ERROR") && l.contains("sink0") && l.contains("device needs reset")),
                "the log line of the fault:\n" + text);
        assertEquals(0, report.getStackTrace().length, "a report, not an error of its own");
    }

    /** A machine whose back-end gives up before creating its socket. */
    @JvmmMachine(options = {"-device", "jvmm-test-sink"},
            backends = @JvmmBackend(name = "bad", command = {"/bin/sh", "-c", "echo unknown option --frobnicate >&2; exit 3"}))
    @ExtendWith(OnlyThroughEngineTestKit.class)
    static class BackendThatExits {
        @Test
        void neverRuns(TestMachine machine) {
            throw new AssertionError("the machine should not have been built");
        }
    }

    @Test
    void aBackEndThatExitsFirstFailsTheTestWithItsStatusAndOutput() {
        Throwable failure = onlyFailure(run(BackendThatExits.class));
        assertInstanceOf(IllegalStateException.class, failure);
        assertTrue(failure.getMessage().contains("back-end 'bad' exited with status 3 before creating"), failure.getMessage());
        assertTrue(failure.getMessage().contains("unknown option --frobnicate"), "its output: " + failure.getMessage());
    }

    /** One machine for the class with a back-end: both must be gone once the class is over. */
    @ExtendWith(OnlyThroughEngineTestKit.class)
    static class PerClassWithBackend {
        @RegisterExtension
        static final JvmmExtension JVMM = JvmmExtension.builder()
                .backend("waiter", "/bin/sh", "-c", ": > {socket:waiter}; exec sleep 600")
                .device("jvmm-test-sink").perClass().build();
        static volatile BackendProcess seen;
        static volatile Path workDir;

        @Test
        void records(BackendProcess waiter, JvmmFixture fixture) {
            seen = waiter;
            workDir = fixture.workDir();
            assertTrue(waiter.isAlive());
        }
    }

    @Test
    void theBackEndAndTheWorkDirectoryAreGoneAfterTheClass() {
        EngineExecutionResults results = run(PerClassWithBackend.class);
        assertEquals(1, results.testEvents().succeeded().count(), () -> results.allEvents().list().toString());
        assertFalse(PerClassWithBackend.seen.isAlive(), "the back-end was ended");
        assertTrue(PerClassWithBackend.seen.exitStatus().isPresent());
        assertFalse(Files.exists(PerClassWithBackend.workDir), "the work directory was removed");
    }

    /** Mistakes in the machine's description. */
    @ExtendWith(JvmmExtension.class)
    @ExtendWith(OnlyThroughEngineTestKit.class)
    static class Mistakes {
        @Test
        void noMachine(TestMachine machine) {
        }

        @Test
        @JvmmMachine(options = {"-device", "no-such-device"})
        void unknownDevice(TestMachine machine) {
        }

        @Test
        @JvmmMachine(options = {"-device", "jvmm-test-sink,id=s0"})
        void wrongDeviceId(@DeviceId("s9") VirtioPciDriver driver) {
        }

        @Test
        @JvmmMachine(options = {"-chardev", "socket,id=c0,path={socket:nobody}"})
        void unknownBackEndInAPlaceholder(TestMachine machine) {
        }
    }

    @Test
    void mistakesAreClearErrors() {
        EngineExecutionResults results = run(Mistakes.class);
        assertEquals(4, results.testEvents().failed().count(), () -> results.allEvents().list().toString());
        String noMachine = failureOf(results, "noMachine").getMessage();
        assertTrue(noMachine.contains("no jvmm machine for parameter") && noMachine.contains("@JvmmMachine"), noMachine);
        assertInstanceOf(ParameterResolutionException.class, failureOf(results, "noMachine"));
        String unknown = failureOf(results, "unknownDevice").getMessage();
        assertTrue(unknown.contains("no-such-device"), unknown);
        String wrongId = failureOf(results, "wrongDeviceId").getMessage();
        assertTrue(wrongId.contains("no PCI device 's9'"), wrongId);
        String placeholder = failureOf(results, "unknownBackEndInAPlaceholder").getMessage();
        assertTrue(placeholder.contains("{socket:nobody}: no back-end named 'nobody'"), placeholder);
    }

    // ---- helpers ----------------------------------------------------------------------------------

    private static EngineExecutionResults run(Class<?> testClass) {
        return EngineTestKit.engine("junit-jupiter")
                .selectors(selectClass(testClass))
                .configurationParameter("junit.jupiter.extensions.autodetection.enabled", "false")
                .configurationParameter(OnlyThroughEngineTestKit.PARAMETER, "true")
                .execute();
    }

    private static Throwable onlyFailure(EngineExecutionResults results) {
        List<Event> failed = results.testEvents().failed().list();
        assertEquals(1, failed.size(), () -> "one failed test: " + results.allEvents().list());
        return throwable(failed.get(0));
    }

    private static Throwable failureOf(EngineExecutionResults results, String method) {
        return throwable(results.testEvents().failed().list().stream()
                .filter(e -> e.getTestDescriptor().getDisplayName().startsWith(method + "("))
                .findFirst().orElseThrow(() -> new AssertionError("no failure of " + method + ": " + results.allEvents().list())));
    }

    private static Throwable throwable(Event event) {
        return event.getRequiredPayload(TestExecutionResult.class).getThrowable().orElseThrow();
    }

    private static MachineReport report(Throwable failure) {
        return (MachineReport) Arrays.stream(failure.getSuppressed()).filter(MachineReport.class::isInstance).findFirst()
                .orElseThrow(() -> new AssertionError("no machine report among the suppressed exceptions of " + failure));
    }
}
