package io.jvmm.devices.p9;

import io.jvmm.chardev.Await;
import io.jvmm.devices.p9.server.P9Server;
import io.jvmm.devices.p9.server.P9ServerConfig;
import io.jvmm.devices.p9.server.P9ServerMetrics;
import io.jvmm.devices.p9.server.P9SocketServer;
import io.jvmm.devices.p9.server.SecurityModel;
import io.jvmm.platform.options.UserError;
import io.jvmm.testkit.TestMachine;
import io.jvmm.testkit.driver.Guest;
import io.jvmm.testkit.driver.p9.P9Client;
import io.jvmm.testkit.driver.p9.P9Wire;
import io.jvmm.testkit.driver.p9.VirtioP9Driver;
import io.jvmm.testkit.driver.virtio.VirtioPciDriver;
import io.micrometer.core.instrument.MeterRegistry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * virtio-9p-pci from options on the no-CPU machine, driven by the guest's 9P driver: the
 * in-process server (-fsdev local) and the jvmm extension chardev= in front of an external server.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class P9DeviceTest {
    @TempDir
    Path dir;

    private Path export() throws Exception {
        Path root = dir.resolve("export");
        if (!Files.exists(root)) {
            Files.createDirectory(root);
            byte[] big = new byte[3 << 20];
            new Random(7).nextBytes(big);
            Files.write(root.resolve("big"), big);
            Files.writeString(root.resolve("small"), "hello from the host");
        }
        return root;
    }

    private static VirtioP9Driver driver(TestMachine m) {
        return new VirtioP9Driver(VirtioPciDriver.probeFirst(Guest.of(m), P9Device.DEVICE_TYPE)).initialize();
    }

    private static P9Client client(VirtioP9Driver d, int msize) {
        P9Client c = new P9Client(d, Duration.ofSeconds(30));
        c.version(msize);
        c.attach(0, 0);
        return c;
    }

    private TestMachine fsdevMachine(String fsdevExtra, String deviceExtra) throws Exception {
        return TestMachine.builder().option("-m", "256M")
                .option("-fsdev", "local,id=fs0,path=" + export() + ",security_model=passthrough" + fsdevExtra)
                .device("virtio-9p-pci,id=p9,fsdev=fs0,mount_tag=hostshare" + deviceExtra).build();
    }

    @Test
    void theGuestMountsTheTagAndReadsAndWritesHostFilesAtMsize512000() throws Exception {
        try (TestMachine m = fsdevMachine("", "")) {
            VirtioP9Driver d = driver(m);
            assertEquals("hostshare", d.mountTag());
            P9Client c = client(d, 512000);
            assertEquals(512000, c.msize());
            c.walk(0, 1, "big");
            c.lopen(1, P9Wire.O_RDONLY);
            assertArrayEquals(Files.readAllBytes(export().resolve("big")), c.readAll(1), "3 MiB in reads of 511,989 bytes");
            c.walk(0, 2);
            c.rpc(P9Wire.lcreate(2, "from-guest", P9Wire.O_RDWR, 0644, 0));
            byte[] data = new byte[300_000];
            new Random(3).nextBytes(data);
            assertEquals(data.length, c.write(2, 0, data));
            c.clunk(2);
            assertArrayEquals(data, Files.readAllBytes(export().resolve("from-guest")));
            assertTrue(c.violations().isEmpty(), c.violations().toString());
            c.clunk(1);
            c.clunk(0);
            MeterRegistry meters = m.meters();
            assertEquals(0.0, meters.get("jvmm.p9.ring.slots").gauge().value());
            assertEquals(0.0, meters.get("jvmm.p9.fids").gauge().value());
            assertTrue(meters.get("jvmm.p9.requests").tag("op", "Tread").counter().count() >= 7);
            assertTrue(meters.get("jvmm.p9.bytes").tag("direction", "read").counter().count() >= 3 << 20);
        }
    }

    @Test
    void aFlushedRequestsChainComesBackEmptyBeforeTheRflush() throws Exception {
        try (TestMachine m = fsdevMachine(",x-delay-ms=60000", "")) {
            VirtioP9Driver d = driver(m);
            P9Client c = client(d, 65536);
            c.walk(0, 1, "small");
            c.lopen(1, P9Wire.O_RDONLY);
            c.order().clear();
            int victim = c.send(P9Wire.read(1, 0, 100));       // held 60 s by the slowed server
            Await.until(() -> d.inFlight() == 1, "the read is held");
            int f1 = c.flush(victim);
            int f2 = c.flush(victim);
            c.await(f2);
            assertEquals(List.of(victim, f1, f2), c.order().stream().map(P9Wire.Reply::tag).toList());
            assertTrue(c.order().get(0).isEmpty(), "the victim's chain is returned with nothing written, first");
            assertEquals(0, d.inFlight(), "every chain is back");
            assertTrue(c.violations().isEmpty(), c.violations().toString());
            assertEquals(0.0, m.meters().get("jvmm.p9.ring.slots").gauge().value());
            assertEquals(0.0, m.meters().get("jvmm.p9.outstanding.tags").gauge().value());
        }
    }

    @Test
    void historicFlushLeaksTheSecondTflushsRingSlot() throws Exception {
        // Historic flushes wait for their victim to run (QEMU before 2017), so reads are held 3 s, not 60.
        try (TestMachine m = fsdevMachine(",x-delay-ms=3000", ",x-flush=historic")) {
            VirtioP9Driver d = driver(m);
            P9Client c = client(d, 65536);
            c.walk(0, 1, "small");
            c.lopen(1, P9Wire.O_RDONLY);
            c.order().clear();
            int victim = c.send(P9Wire.read(1, 0, 100));
            int g1 = c.flush(victim);
            int g2 = c.flush(victim);
            c.await(g1);
            Await.stays(() -> !c.answered(g2) && !c.pump(Duration.ofMillis(1)), "the second Tflush is never answered");
            assertEquals(List.of(victim, g1), c.order().stream().map(P9Wire.Reply::tag).toList());
            assertEquals(1, d.inFlight(), "its chain is never returned (the historic leak)");
            assertEquals(1.0, m.meters().get("jvmm.p9.ring.slots").gauge().value());
            assertEquals(1.0, m.meters().get("jvmm.p9.flush.leaked").counter().count());
        }
    }

    @Test
    void aResetWaitsForRequestsInFlightAndTheDeviceWorksAfterwards() throws Exception {
        try (TestMachine m = fsdevMachine(",x-delay-ms=60000", "")) {
            VirtioP9Driver d = driver(m);
            P9Client c = client(d, 65536);
            c.walk(0, 1, "small");
            c.lopen(1, P9Wire.O_RDONLY);
            for (int i = 0; i < 5; i++) {
                c.send(P9Wire.read(1, 0, 100));
            }
            Await.until(() -> d.inFlight() == 5, "five reads held");
            d.device().reset();
            assertEquals(0.0, m.meters().get("jvmm.p9.ring.slots").gauge().value(), "the reset returned only after every chain");
            VirtioP9Driver again = driver(m);
            P9Client c2 = client(again, 65536);
            c2.walk(0, 1, "small");
            assertEquals(19, c2.getattr(1).size());
        }
    }

    @Test
    void aReplyLargerThanTheGuestsBufferIsEmsgsizeNotACutReply() throws Exception {
        try (TestMachine m = fsdevMachine("", "")) {
            VirtioP9Driver d = driver(m);
            P9Client c = client(d, 65536);
            c.walk(0, 1, "big");
            c.lopen(1, P9Wire.O_RDONLY);
            int tag = c.send(P9Wire.read(1, 0, 100));
            c.await(tag);
            d.send(withTag(P9Wire.read(1, 0, 60000), 4000), 1000);   // a guest that gives 1000 bytes for 60000
            P9Wire.Reply r = P9Wire.Reply.of(d.receive(Duration.ofSeconds(30)).bytes());
            assertTrue(r.isError());
            assertEquals(90, r.errno());
            assertEquals(1.0, m.meters().get("jvmm.p9.replies.too.large").counter().count());
        }
    }

    private static byte[] withTag(byte[] msg, int tag) {
        msg[5] = (byte) tag;
        msg[6] = (byte) (tag >>> 8);
        return msg;
    }

    @Test
    void optionsAreCheckedByName() throws Exception {
        Path e = export();
        UserError both = assertThrows(UserError.class, () -> TestMachine.builder()
                .device("virtio-9p-pci,id=p9,mount_tag=t").build());
        assertTrue(both.getMessage().contains("exactly one of fsdev=ID"), both.getMessage());
        UserError noTag = assertThrows(UserError.class, () -> TestMachine.builder()
                .option("-fsdev", "local,id=fs0,path=" + e + ",security_model=none")
                .device("virtio-9p-pci,id=p9,fsdev=fs0").build());
        assertTrue(noTag.getMessage().contains("mount_tag"), noTag.getMessage());
        UserError model = assertThrows(UserError.class, () -> TestMachine.builder()
                .option("-fsdev", "local,id=fs0,path=" + e + ",security_model=nosuch")
                .device("virtio-9p-pci,id=p9,fsdev=fs0,mount_tag=t").build());
        assertTrue(model.getMessage().contains("passthrough, mapped-xattr, none"), model.getMessage());
        UserError path = assertThrows(UserError.class, () -> TestMachine.builder()
                .option("-fsdev", "local,id=fs0,path=" + e.resolve("small") + ",security_model=none")
                .device("virtio-9p-pci,id=p9,fsdev=fs0,mount_tag=t").build());
        assertTrue(path.getMessage().contains("is not a directory"), path.getMessage());
        UserError noServer = assertThrows(UserError.class, () -> TestMachine.builder()
                .option("-chardev", "socket,id=c0,path=" + dir.resolve("nobody.sock") + ",timeout-ms=300")
                .device("virtio-9p-pci,id=p9,chardev=c0,mount_tag=t").build());
        assertTrue(noServer.getMessage().contains("nobody.sock"), noServer.getMessage());
    }

    @Test
    void chardevForwardsToAnExternalServerFailsInFlightRequestsWhenItDiesAndReconnects() throws Exception {
        Path socket = dir.resolve("9p.sock");
        P9ServerConfig config = P9ServerConfig.of(export(), false, SecurityModel.PASSTHROUGH).withDelay(Duration.ofSeconds(60));
        P9Server server = new P9Server("external", config, P9ServerMetrics.unregistered("external"));
        P9SocketServer sockets = P9SocketServer.unix(server, socket);
        try (TestMachine m = TestMachine.builder().option("-m", "256M")
                .option("-chardev", "socket,id=c0,path=" + socket + ",reconnect-ms=50")
                .device("virtio-9p-pci,id=p9,chardev=c0,mount_tag=ext").build()) {
            VirtioP9Driver d = driver(m);
            P9Client c = client(d, 65536);
            c.walk(0, 1, "small");
            c.lopen(1, P9Wire.O_RDONLY);
            int victim = c.send(P9Wire.read(1, 0, 100));      // held by the slowed server
            int f = c.flush(victim);
            c.await(f);
            assertTrue(c.await(victim).isEmpty(), "flushed through the external server: the chain came back empty");
            int r1 = c.send(P9Wire.read(1, 0, 100));
            int r2 = c.send(P9Wire.read(1, 0, 100));
            Await.until(() -> server.outstandingTags() == 2, "two reads held by the server");
            sockets.close();
            server.close();                                   // the server dies with two requests in flight
            assertEquals(5, c.await(r1).errno(), "EIO");
            assertEquals(5, c.await(r2).errno(), "EIO");
            assertEquals(0, d.inFlight());
            assertEquals(5, c.errno(P9Wire.getattr(1)), "EIO while the server is away");
            assertEquals(2.0, m.meters().get("jvmm.p9.backend.failures").counter().count(), 1.0);

            P9Server back = new P9Server("external", P9ServerConfig.of(export(), false, SecurityModel.PASSTHROUGH),
                    P9ServerMetrics.unregistered("external"));
            try (P9SocketServer again = P9SocketServer.unix(back, socket)) {
                Await.until(() -> m.meters().get("jvmm.p9.backend.reconnects").counter().count() >= 1, "the device reconnected");
                c.attach(10, 0);                               // the Tversion was repeated: attach works at once
                c.walk(10, 11, "small");
                c.lopen(11, P9Wire.O_RDONLY);
                assertEquals("hello from the host", new String(c.readAll(11)));
            } finally {
                back.close();
            }
        } finally {
            sockets.close();
            server.close();
        }
    }
}
