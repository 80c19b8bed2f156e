package org.example.virtiofsd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jvmm.testkit.driver.Poll;
import io.jvmm.testkit.driver.fs.FuseClient;
import io.jvmm.testkit.driver.fs.FuseCreated;
import io.jvmm.testkit.driver.fs.FuseEntryOut;
import io.jvmm.testkit.driver.fs.FuseException;
import io.jvmm.testkit.driver.fs.FuseOpenOut;
import io.jvmm.testkit.junit.BackendProcess;
import io.jvmm.testkit.junit.JvmmBackend;
import io.jvmm.testkit.junit.JvmmFixture;
import io.jvmm.testkit.junit.JvmmMachine;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * Debian's virtiofsd, a vhost-user back-end, tested as a guest would use it: jvmm's
 * vhost-user-fs-pci on a machine without a CPU, and a FUSE client over the guest's virtio-fs
 * driver. The extension starts virtiofsd on a directory of its own for each test, waits for its
 * socket, builds the machine, hands the test a FUSE client with its session open, and stops
 * virtiofsd afterwards; a failure carries the device's status, virtiofsd's output and the log.
 */
@JvmmMachine(
        backends = @JvmmBackend(name = "virtiofsd", command = {"/usr/lib/qemu/virtiofsd",
                "--socket-path={socket:virtiofsd}", "-o", "source={dir:shared}", "-o", "sandbox=chroot", "-o", "cache=none"}),
        options = {"-chardev", "socket,id=c0,path={socket:virtiofsd}",
                "-device", "vhost-user-fs-pci,id=fs0,chardev=c0,tag=myfs"})
class VirtiofsdTest {
    private static final int O_RDWR = 2;

    @Test
    void aHostFileIsReadInTheGuest(JvmmFixture jvmm, FuseClient fuse) throws Exception {
        Files.writeString(jvmm.dir("shared").resolve("hello.txt"), "hello from the host");
        FuseEntryOut file = fuse.lookup(FuseClient.ROOT_ID, "hello.txt");
        FuseOpenOut open = fuse.open(file.nodeId());
        byte[] read = fuse.read(file.nodeId(), open.fh(), 0, 4096);
        assertEquals("hello from the host", new String(read, StandardCharsets.UTF_8));
    }

    @Test
    void aFileTheGuestWritesIsOnTheHost(JvmmFixture jvmm, FuseClient fuse) throws Exception {
        byte[] data = "written by the guest".getBytes(StandardCharsets.UTF_8);
        FuseCreated created = fuse.create(FuseClient.ROOT_ID, "new.txt", O_RDWR, 0644);
        assertEquals(data.length, fuse.write(created.entry().nodeId(), created.open().fh(), 0, data));
        fuse.release(created.entry().nodeId(), created.open().fh());
        assertArrayEquals(data, Files.readAllBytes(jvmm.dir("shared").resolve("new.txt")));
    }

    @Test
    void aMissingFileIsENOENT(FuseClient fuse) {
        assertEquals(2, assertThrows(FuseException.class, () -> fuse.lookup(FuseClient.ROOT_ID, "missing")).errno());
    }

    @Test
    void aKilledBackEndBreaksTheDeviceNotTheMachine(BackendProcess virtiofsd, FuseClient fuse, JvmmFixture jvmm) throws Exception {
        Path shared = jvmm.dir("shared");
        Files.writeString(shared.resolve("f"), "x");
        FuseEntryOut file = fuse.lookup(FuseClient.ROOT_ID, "f");
        virtiofsd.kill();
        // The front-end answers a dead back-end's requests itself (FUSE -ENOTCONN), so a guest
        // gets an error instead of waiting for ever, and the device asks for a reset.
        FuseException broken = assertThrows(FuseException.class, () -> fuse.getattr(file.nodeId()));
        assertEquals(107, broken.errno(), "ENOTCONN: " + broken.getMessage());
        // jvmm sets it just after answering the requests in flight: wait for it (bounded).
        Poll.until(fuse.driver().device()::needsReset, Duration.ofSeconds(30), () -> "the device set DEVICE_NEEDS_RESET");
        assertEquals("myfs", fuse.driver().readConfig().tag(), "the machine still answers the guest");
    }
}
