package io.jvmm.tests.vhost;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jvmm.chardev.Await;
import io.jvmm.chardev.SocketChardevSpec;
import io.jvmm.testkit.driver.rng.VirtioRngDriver;
import io.jvmm.testkit.driver.virtio.VirtioFeatureBits;
import io.jvmm.virtio.vhost.VhostUserException;
import io.jvmm.virtio.vhost.backend.BackendFaults;
import io.jvmm.virtio.vhost.backend.FillingDevice;
import io.jvmm.virtio.vhost.frontend.VhostUserDevice;
import io.jvmm.virtio.vhost.frontend.VhostUserDeviceOptions;
import io.jvmm.virtio.vhost.ProtocolFeatures;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The vhost-user device seen by a guest driver: data served by the back-end, resets, config, realize errors. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class VhostUserDeviceTest {
    @TempDir
    Path dir;

    private static void assertFilled(byte[] data) {
        for (int i = 0; i < data.length; i++) {
            if (data[i] != FillingDevice.pattern(i)) {
                throw new AssertionError("byte " + i + " is " + data[i] + ", the back-end writes " + FillingDevice.pattern(i));
            }
        }
    }

    @ParameterizedTest(name = "separate process: {0}")
    @ValueSource(booleans = {true, false})
    void guestReadsBuffersTheBackendFilledAndSurvivesResets(boolean separateProcess) {
        VhostTestBed.Options o = VhostTestBed.Options.defaults();
        try (VhostTestBed bed = VhostTestBed.create(dir, separateProcess ? o : o.inProcess())) {
            VirtioRngDriver rng = new VirtioRngDriver(bed.driver);
            for (int round = 0; round < 10; round++) {
                rng.initialize();
                assertTrue(VirtioFeatureBits.has(bed.driver.negotiatedFeatures(), VirtioFeatureBits.RING_EVENT_IDX));
                long interrupts = bed.guest.interrupts().count(rng.queue().message());
                assertFilled(rng.read(4096 + round));
                assertFilled(rng.read(1));
                // At least one interrupt: the driver may collect a completion before its interrupt lands, and
                // the next completion's signal then merges with it in the eventfd (as an irqfd would).
                int r = round;
                assertTrue(bed.guest.interrupts().awaitMoreThan(rng.queue().message(), interrupts, Duration.ofSeconds(5)),
                        () -> "round " + r + ": completions announced by an interrupt; " + rng.queue().describeState());
                assertFalse(bed.driver.needsReset(), bed::backendOutput);
            }
            rng.reset();
            bed.other.initialize();
            assertEquals(16, bed.other.read(16).length, "the in-process device next to it works too");
        }
    }

    @Test
    void theBackendMayConnectToTheDevice() {
        try (VhostTestBed bed = VhostTestBed.create(dir, VhostTestBed.Options.defaults().backendConnects())) {
            assertTrue(bed.vhost.frontend().peer().contains("server on"), bed.vhost.frontend().peer());
            VirtioRngDriver rng = new VirtioRngDriver(bed.driver).initialize();
            assertFilled(rng.read(512));
        }
    }

    @Test
    void configSpaceComesFromTheBackendAndWritesGoBack() {
        VhostTestBed.Options o = VhostTestBed.Options.defaults().inProcess().model(VhostTestBed.RNG_MODEL.withBackendConfig(8));
        try (VhostTestBed bed = VhostTestBed.create(dir, o)) {
            assertEquals(0x03020100, bed.driver.readConfig32(0));
            assertEquals(0x07060504, bed.driver.readConfig32(4));
            bed.guest.cpu().writeMmio(bed.driver.layout().device().address() + 2, 1, 0x55);
            assertEquals(0x03550100, bed.driver.readConfig32(0));
            FillingDevice device = (FillingDevice) bed.inProcessBackend.device();
            Await.until(() -> device.config()[2] == 0x55, "SET_CONFIG to reach the back-end");
        }
    }

    @Test
    void realizeFailsClearlyWhenNoBackendAnswers() {
        SocketChardevSpec spec = SocketChardevSpec.client("chr9", dir.resolve("absent.sock")).withConnectTimeout(Duration.ofMillis(300));
        VhostUserException e = assertThrows(VhostUserException.class,
                () -> VhostUserDevice.realize(VhostUserDeviceOptions.of("fs9", spec), VhostTestBed.RNG_MODEL));
        assertTrue(e.getMessage().contains("fs9") && e.getMessage().contains("absent.sock"), e.getMessage());
    }

    @Test
    void realizeFailsClearlyWhenTheBackendLacksConfig() {
        VhostTestBed.Options o = VhostTestBed.Options.defaults().inProcess().model(VhostTestBed.RNG_MODEL.withBackendConfig(8))
                .faults(BackendFaults.NONE.withHiddenProtocolFeatures(ProtocolFeatures.bit(ProtocolFeatures.CONFIG)));
        VhostUserException e = assertThrows(VhostUserException.class, () -> VhostTestBed.create(dir, o).close());
        assertTrue(e.getMessage().contains("lacks the CONFIG protocol feature"), e.getMessage());
    }
}
