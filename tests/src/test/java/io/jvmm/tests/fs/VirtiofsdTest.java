package io.jvmm.tests.fs;

import io.jvmm.chardev.Await;
import io.jvmm.testkit.driver.fs.Errno;
import io.jvmm.testkit.driver.fs.FuseAttrOut;
import io.jvmm.testkit.driver.fs.FuseClient;
import io.jvmm.testkit.driver.fs.FuseCreated;
import io.jvmm.testkit.driver.fs.FuseDirent;
import io.jvmm.testkit.driver.fs.FuseEntryOut;
import io.jvmm.testkit.driver.fs.FuseException;
import io.jvmm.testkit.driver.fs.FuseOpenOut;
import io.jvmm.testkit.driver.fs.FuseSession;
import io.jvmm.testkit.driver.virtio.QueueSetup;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The guest's FUSE client against the real virtiofsd through a vhost-user device on the no-CPU
 * machine: data read equals the host file, files written are seen by the host, errors come back
 * as errno names, and the device survives reset + re-initialisation.
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class VirtiofsdTest {
    @TempDir
    Path dir;

    private Path shared;
    private VirtiofsdBed bed;

    @BeforeEach
    void start() throws IOException {
        assumeTrue(Virtiofsd.available(), "virtiofsd is not installed at " + Virtiofsd.BINARY + " (package qemu-system-common)");
        shared = Files.createDirectory(dir.resolve("shared"));
    }

    @AfterEach
    void stop() {
        if (bed != null) {
            bed.close();
        }
    }

    private VirtiofsdBed bed() {
        bed = new VirtiofsdBed(shared, dir, 256);
        return bed;
    }

    private static byte[] random(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    @Test
    void initLookupOpenReadReturnTheHostFile() throws IOException {
        byte[] content = random(3 * 1024 * 1024 + 123, 1);
        Files.createDirectory(shared.resolve("sub"));
        Files.write(shared.resolve("sub").resolve("data.bin"), content);
        VirtiofsdBed b = bed();
        b.fs.initialize();
        assertEquals(VirtiofsdBed.TAG, b.fs.config().tag());
        assertEquals(1, b.fs.config().numRequestQueues());

        FuseSession session = b.fuse.init();
        assertEquals(7, session.major());
        assertTrue(session.minor() >= 31, "virtiofsd of QEMU 7.2 speaks at least 7.31: " + session);
        assertTrue(session.maxWrite() >= 4096, session.toString());

        FuseEntryOut sub = b.fuse.lookup(FuseClient.ROOT_ID, "sub");
        assertTrue(sub.attr().isDirectory());
        FuseEntryOut file = b.fuse.lookup(sub.nodeId(), "data.bin");
        assertTrue(file.attr().isRegularFile());
        assertEquals(content.length, file.attr().size());
        assertEquals(content.length, b.fuse.getattr(file.nodeId()).attr().size());

        FuseOpenOut open = b.fuse.open(file.nodeId());
        b.fuse.setMaxInFlight(8);
        byte[] read = b.fuse.read(file.nodeId(), open.fh(), 0, content.length + 4096);
        assertEquals(content.length, read.length, "a read past the end stops at end of file");
        assertArrayEquals(content, read);
        byte[] middle = b.fuse.read(file.nodeId(), open.fh(), 1_000_001, 70_000);
        assertArrayEquals(java.util.Arrays.copyOfRange(content, 1_000_001, 1_070_001), middle);
        b.fuse.flush(file.nodeId(), open.fh());
        b.fuse.release(file.nodeId(), open.fh());
        b.fuse.forget(file.nodeId(), 1);
        b.fuse.forget(sub.nodeId(), 1);
        assertEquals(0, b.fs.inFlight());
    }

    @Test
    void createWriteMkdirAndUnlinkAreSeenByTheHost() throws IOException {
        VirtiofsdBed b = bed().started();
        FuseEntryOut d = b.fuse.mkdir(FuseClient.ROOT_ID, "made", 0750);
        assertTrue(Files.isDirectory(shared.resolve("made")));
        assertTrue(d.attr().isDirectory());
        assertEquals(0750, d.attr().permissions());

        byte[] data = random(700_000, 2);
        FuseCreated created = b.fuse.create(d.nodeId(), "new.bin", 02, 0640);
        b.fuse.setWriteChunk(64 * 1024);   // eleven chunks, several in flight
        assertEquals(data.length, b.fuse.write(created.entry().nodeId(), created.open().fh(), 0, data));
        b.fuse.flush(created.entry().nodeId(), created.open().fh());
        b.fuse.release(created.entry().nodeId(), created.open().fh(), 02);
        assertArrayEquals(data, Files.readAllBytes(shared.resolve("made").resolve("new.bin")));
        assertEquals(data.length, b.fuse.getattr(created.entry().nodeId()).attr().size());

        Set<String> names = b.fuse.listDirectory(d.nodeId()).stream().map(FuseDirent::name).collect(Collectors.toSet());
        assertEquals(Set.of(".", "..", "new.bin"), names);

        b.fuse.unlink(d.nodeId(), "new.bin");
        assertFalse(Files.exists(shared.resolve("made").resolve("new.bin")));
        b.fuse.forget(created.entry().nodeId(), 1);
        b.fuse.forget(d.nodeId(), 1);
    }

    @Test
    void serverErrorsArriveAsErrnoNames() throws IOException {
        Files.writeString(shared.resolve("exists.txt"), "x");
        VirtiofsdBed b = bed().started();
        FuseException missing = assertThrows(FuseException.class, () -> b.fuse.lookup(FuseClient.ROOT_ID, "missing"));
        assertEquals(Errno.ENOENT, missing.errno());
        assertTrue(missing.getMessage().contains("ENOENT") && missing.getMessage().contains("\"missing\""), missing.getMessage());
        assertEquals(Errno.EEXIST, assertThrows(FuseException.class,
                () -> b.fuse.mkdir(FuseClient.ROOT_ID, "exists.txt", 0755)).errno());
        // O_EXCL | O_WRONLY on an existing name
        assertEquals(Errno.EEXIST, assertThrows(FuseException.class,
                () -> b.fuse.create(FuseClient.ROOT_ID, "exists.txt", 0201, 0644)).errno());
        assertEquals(Errno.ENAMETOOLONG, assertThrows(FuseException.class,
                () -> b.fuse.lookup(FuseClient.ROOT_ID, "n".repeat(300))).errno());
        // the session goes on after errors
        assertTrue(b.fuse.lookup(FuseClient.ROOT_ID, "exists.txt").attr().isRegularFile());
    }

    @Test
    void manyRequestsInFlightCompleteEachWithItsOwnReply() throws IOException {
        int files = 24;
        for (int i = 0; i < files; i++) {
            Files.write(shared.resolve("f" + i), new byte[i * 100]);
        }
        VirtiofsdBed b = bed();
        b.fs.initialize(1, QueueSetup.size(16));   // fewer descriptors than requests: submission waits for room
        b.fuse.init();
        List<FuseEntryOut> entries = new ArrayList<>();
        for (int i = 0; i < files; i++) {
            entries.add(b.fuse.lookup(FuseClient.ROOT_ID, "f" + i));
        }
        List<CompletableFuture<FuseAttrOut>> pending = new ArrayList<>();
        int peak = 0;
        for (FuseEntryOut e : entries) {
            pending.add(b.fuse.submitGetattr(e.nodeId()));
            // The driver collects replies only while it waits for room, so the count right after a
            // submission that found room is exact; how many are left at the end depends on timing.
            peak = Math.max(peak, b.fs.inFlight());
        }
        assertTrue(peak > 1, "requests overlap: at most " + peak + " in flight");
        for (int i = 0; i < files; i++) {
            assertEquals(i * 100L, b.fuse.await(pending.get(i)).attr().size(), "GETATTR reply of f" + i);
        }
        assertEquals(0, b.fs.inFlight());
    }

    @Test
    void resetAndReinitialisationStartANewSession() throws IOException {
        byte[] content = random(200_000, 3);
        Files.write(shared.resolve("keep.bin"), content);
        VirtiofsdBed b = bed().started();
        for (int round = 0; round < 5; round++) {
            FuseEntryOut e = b.fuse.lookup(FuseClient.ROOT_ID, "keep.bin");
            FuseOpenOut o = b.fuse.open(e.nodeId());
            assertArrayEquals(content, b.fuse.read(e.nodeId(), o.fh(), 0, content.length), "round " + round);
            b.fs.reset();
            assertThrows(IllegalStateException.class, () -> b.fuse.lookup(FuseClient.ROOT_ID, "keep.bin"),
                    "the old session ended with the reset");
            b.fs.initialize();
            assertThrows(IllegalStateException.class, () -> b.fuse.lookup(FuseClient.ROOT_ID, "keep.bin"),
                    "a new device initialisation needs a new INIT");
            assertEquals(b.fs.initializations(), b.fuse.init().initialization());
        }
        assertTrue(b.virtiofsd.alive(), "virtiofsd survived: " + b.virtiofsd.logTail());
    }

    @Test
    void aKilledVirtiofsdBreaksTheDeviceAndRequestsFailClearly() throws Exception {
        byte[] content = random(1 << 20, 4);
        Files.write(shared.resolve("big.bin"), content);
        VirtiofsdBed b = bed().started();
        FuseEntryOut e = b.fuse.lookup(FuseClient.ROOT_ID, "big.bin");
        FuseOpenOut o = b.fuse.open(e.nodeId());
        assertArrayEquals(java.util.Arrays.copyOf(content, 4096), b.fuse.read(e.nodeId(), o.fh(), 0, 4096));

        b.virtiofsd.kill();
        long t0 = System.nanoTime();
        FuseException broken = assertThrows(FuseException.class, () -> b.fuse.read(e.nodeId(), o.fh(), 0, content.length));
        assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(15), "failed without waiting out the driver timeout");
        assertEquals("ENOTCONN", broken.errnoName(), "jvmm answers for the dead virtiofsd: " + broken.getMessage());
        Await.until(b.fs.device()::needsReset, "DEVICE_NEEDS_RESET, set just after the error replies");
        assertEquals(VirtiofsdBed.TAG, b.fs.readConfig().tag(), "the machine still answers the guest");
    }
}
