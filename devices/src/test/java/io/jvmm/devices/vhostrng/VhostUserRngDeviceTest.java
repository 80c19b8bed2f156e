package io.jvmm.devices.vhostrng;

import static org.junit.jupiter.api.Assertions.*;

import io.jvmm.chardev.SocketChardevSpec;
import io.jvmm.platform.options.UserError;
import io.jvmm.testkit.TestMachine;
import io.jvmm.testkit.driver.Guest;
import io.jvmm.testkit.driver.rng.VirtioRngDriver;
import io.jvmm.testkit.driver.virtio.VirtioPciDriver;
import io.jvmm.virtio.vhost.ProtocolFeatures;
import io.jvmm.virtio.vhost.VhostUserRequest;
import io.jvmm.virtio.vhost.backend.BackendFaults;
import io.jvmm.virtio.vhost.backend.FillingDevice;
import io.jvmm.virtio.vhost.backend.VhostUserBackend;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * vhost-user-rng-pci built from options on the no-CPU machine, served by the Java back-end's
 * filling device (virtio type 4): the guest's entropy driver reads what the back-end wrote, with
 * every ring message acknowledged; a missing back-end and a bad option fail with clear errors.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class VhostUserRngDeviceTest {
    @TempDir
    Path dir;

    @Test
    void theGuestReadsWhatTheBackendFilledAndEveryRingMessageWasAcknowledged() throws Exception {
        Path socket = dir.resolve("rng.sock");
        try (VhostUserBackend backend = VhostUserBackend.startServer(socket, "rng", FillingDevice.standard(), BackendFaults.NONE);
             TestMachine machine = TestMachine.builder().option("-chardev", "socket,id=c0,path=" + socket)
                     .device("vhost-user-rng-pci,id=vrng0,chardev=c0").build()) {
            VirtioPciDriver pci = VirtioPciDriver.probeFirst(Guest.of(machine), VhostUserRngDevice.DEVICE_TYPE);
            assertEquals(0x1044, pci.function().deviceId(), "the modern virtio device id of an entropy device");
            VirtioRngDriver rng = new VirtioRngDriver(pci).initialize();
            assertEquals(VhostUserRngDevice.QUEUE_SIZE, rng.queue().size(), "QEMU's queue size");
            byte[] bytes = rng.read(300);
            for (int i = 0; i < bytes.length; i++) {
                assertEquals(FillingDevice.pattern(i), bytes[i], "byte " + i + " as the back-end wrote it");
            }
            assertTrue(backend.stats().requests(VhostUserRequest.SET_VRING_CALL.id()) >= 1);
            assertEquals(backend.stats().requests(VhostUserRequest.SET_VRING_CALL.id()),
                    backend.stats().needReply(VhostUserRequest.SET_VRING_CALL.id()), "every SET_VRING_CALL carried NEED_REPLY");
            assertEquals(backend.stats().requests(VhostUserRequest.SET_VRING_ENABLE.id()),
                    backend.stats().needReply(VhostUserRequest.SET_VRING_ENABLE.id()), "every SET_VRING_ENABLE carried NEED_REPLY");
            assertTrue(ProtocolFeatures.has(backend.protocolFeatures(), ProtocolFeatures.REPLY_ACK));
        }
    }

    @Test
    void aBackendThatIsNotThereFailsTheBuildNamingTheSocket() {
        Path socket = dir.resolve("jvmm-no-rng-backend.sock");
        UserError e = assertThrows(UserError.class, () -> TestMachine.builder()
                .option("-chardev", "socket,id=c0,path=" + socket + ",timeout-ms=300")
                .device("vhost-user-rng-pci,id=vrng0,chardev=c0").build().close());
        assertTrue(e.getMessage().contains("vhost-user-rng-pci,id=vrng0") && e.getMessage().contains(socket.toString()), e.getMessage());
    }

    @Test
    void aReplyTimeoutOutsideItsRangeIsRefusedByName() {
        SocketChardevSpec c0 = SocketChardevSpec.client("c0", dir.resolve("none.sock"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new VhostUserRngOptions("vrng0", c0, true, Duration.ZERO));
        assertTrue(e.getMessage().contains("vhost-user-rng-pci 'vrng0'") && e.getMessage().contains("x-reply-timeout=0"), e.getMessage());
    }
}
