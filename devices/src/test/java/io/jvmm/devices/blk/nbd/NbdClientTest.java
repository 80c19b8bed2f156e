package io.jvmm.devices.blk.nbd;

import static org.junit.jupiter.api.Assertions.*;

import io.jvmm.chardev.Await;
import io.jvmm.devices.blk.BlkDevice;
import io.jvmm.devices.blk.BlockBackend;
import io.jvmm.devices.blk.BlockOpener;
import io.jvmm.devices.blk.Peers;
import io.jvmm.devices.blk.RawFileBackend;
import io.jvmm.devices.nbd.NbdAddress;
import io.jvmm.devices.nbd.NbdExport;
import io.jvmm.devices.nbd.NbdServer;
import io.jvmm.testkit.TestMachine;
import io.jvmm.testkit.driver.Guest;
import io.jvmm.testkit.driver.blk.BlkResponse;
import io.jvmm.testkit.driver.blk.VirtioBlkDriver;
import io.jvmm.testkit.driver.virtio.VirtioPciDriver;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Our NBD client against servers nobody here wrote (qemu-nbd; nbdkit's memory and file plugins),
 * over TCP against our own server, and behind nbdkit's error and delay filters made deterministic:
 * every injected EIO surfaces as a virtio-blk IOERR (the client does not retry a failed request),
 * a delay beyond the request timeout fails the request within that bound, a server that dies
 * fails what is in flight, and the device goes on once the server is back (the client reconnects in
 * the background every 500 ms). Both spellings: {@code -drive file=nbd+unix:...} and
 * {@code -blockdev driver=nbd,...}.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class NbdClientTest {
    static final int SIZE = 8 << 20;

    @TempDir
    Path dir;
    private final List<Process> peers = new ArrayList<>();

    @AfterEach
    void stopPeers() {
        peers.forEach(Peers::stop);
    }

    private Path socket(String name) {
        return dir.resolve(name + ".sock");
    }

    private Process serve(Path socket, String... cmd) {
        Process p = Peers.start(dir.resolve(socket.getFileName() + ".log"), cmd);
        peers.add(p);
        Await.until(() -> accepts(socket) || !p.isAlive(), "the server listens on " + socket);
        assertTrue(p.isAlive(), "the server is running: " + log(socket));
        return p;
    }

    private static boolean accepts(Path socket) {
        try (java.nio.channels.SocketChannel c = java.nio.channels.SocketChannel.open(java.net.StandardProtocolFamily.UNIX)) {
            return c.connect(java.net.UnixDomainSocketAddress.of(socket));
        } catch (java.io.IOException e) {
            return false;
        }
    }

    private String log(Path socket) {
        try {
            return Files.readString(dir.resolve(socket.getFileName() + ".log"));
        } catch (java.io.IOException e) {
            return e.toString();
        }
    }

    private static BlockBackend open(String uri, int requestTimeoutS, int reconnectDelayS) {
        NbdClientSettings s = new NbdClientSettings(Duration.ofSeconds(10), Duration.ofSeconds(requestTimeoutS),
                Duration.ofSeconds(reconnectDelayS));
        return BlockOpener.open(new BlockOpener.Spec("nbd-client-test", uri, "raw", false, s));
    }

    private static byte[] random(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    /** Reads, writes (with and without FUA, many in flight), flush, zeroes and trim through {@code b}; checks the data. */
    private static void exercise(BlockBackend b) throws Exception {
        List<CompletableFuture<Void>> writes = new ArrayList<>();
        for (int i = 0; i < 32; i++) {
            writes.add(b.write(ByteBuffer.wrap(random(65536, i)), i * 65536L, i % 4 == 0));
        }
        CompletableFuture.allOf(writes.toArray(new CompletableFuture<?>[0])).get(30, TimeUnit.SECONDS);
        b.flush().get(30, TimeUnit.SECONDS);
        b.writeZeroes(65536, 65536, true).get(30, TimeUnit.SECONDS);
        b.discard(4 << 20, 1 << 20).get(30, TimeUnit.SECONDS);
        byte[] all = new byte[32 * 65536];
        b.read(ByteBuffer.wrap(all), 0).get(30, TimeUnit.SECONDS);
        for (int i = 0; i < 32; i++) {
            byte[] expect = i == 1 ? new byte[65536] : random(65536, i);
            assertArrayEquals(expect, Arrays.copyOfRange(all, i * 65536, (i + 1) * 65536), "block " + i);
        }
    }

    @Test
    void againstQemuNbd() throws Exception {
        Peers.require("qemu-nbd", "qemu-utils");
        Path image = dir.resolve("q.img");
        Files.write(image, new byte[SIZE]);
        Path s = socket("qemu-nbd");
        serve(s, "qemu-nbd", "-t", "-k", s.toString(), "-f", "raw", "-x", "q", "--shared=4", image.toString());
        try (BlockBackend b = open("nbd+unix:///q?socket=" + s, 30, 0)) {
            assertEquals(SIZE, b.size());
            exercise(b);
        }
        Peers.stop(peers.remove(0));
        assertArrayEquals(random(65536, 5), Arrays.copyOfRange(Files.readAllBytes(image), 5 * 65536, 6 * 65536), "on the file");
    }

    @Test
    void againstNbdkitMemoryAndFile() throws Exception {
        Peers.require("nbdkit", "nbdkit");
        Path m = socket("memory");
        serve(m, "nbdkit", "-f", "-U", m.toString(), "memory", String.valueOf(SIZE));
        try (BlockBackend b = open("nbd+unix:///?socket=" + m, 30, 0)) {
            exercise(b);
        }
        Path image = dir.resolve("f.img");
        Files.write(image, new byte[SIZE]);
        Path f = socket("file");
        serve(f, "nbdkit", "-f", "-U", f.toString(), "file", "file=" + image);
        try (BlockBackend b = open("nbd+unix:///?socket=" + f, 30, 0)) {
            exercise(b);
        }
        assertArrayEquals(random(65536, 7), Arrays.copyOfRange(Files.readAllBytes(image), 7 * 65536, 8 * 65536));
    }

    @Test
    void overTcpAgainstOurServer() throws Exception {
        Path image = dir.resolve("t.img");
        Files.write(image, new byte[SIZE]);
        try (RawFileBackend served = new RawFileBackend("served", image, false, 2);
             NbdServer server = NbdServer.start("tcp", NbdAddress.tcp("127.0.0.1", 0), NbdServer.Listener.OWN_LOOP, 4)) {
            server.addExport(new NbdExport("t", null, served, true, true));
            try (BlockBackend b = open("nbd://127.0.0.1:" + server.address().port() + "/t", 30, 0)) {
                exercise(b);
            }
        }
    }

    private VirtioBlkDriver blk(TestMachine machine) {
        VirtioBlkDriver blk = new VirtioBlkDriver(VirtioPciDriver.probeFirst(Guest.of(machine), BlkDevice.DEVICE_TYPE));
        blk.initialize();
        return blk;
    }

    @Test
    void injectedErrorsAreIoErrorsAndTheDeviceGoesOn() throws Exception {
        Peers.require("nbdkit", "nbdkit");
        Path s = socket("error");
        Path trigger = dir.resolve("errors-on");
        serve(s, "nbdkit", "-f", "-U", s.toString(), "--filter=error", "memory", String.valueOf(SIZE),
                "error=EIO", "error-rate=100%", "error-file=" + trigger);
        try (TestMachine machine = TestMachine.builder()
                .option("-drive", "file=nbd+unix:///?socket=" + s + ",format=raw,if=none,id=d0,request-timeout=5")
                .device("virtio-blk-pci,id=blk0,drive=d0").build()) {
            VirtioBlkDriver blk = blk(machine);
            byte[] data = random(4096, 1);
            assertTrue(blk.write(8, data).ok());
            Files.createFile(trigger);   // every request now fails with EIO
            for (int i = 0; i < 3; i++) {
                BlkResponse r = blk.read(8, 4096);
                assertEquals(1, r.status(), "VIRTIO_BLK_S_IOERR for an injected EIO: " + r);
                assertEquals(1, blk.write(16, data).status());
            }
            Files.delete(trigger);   // and now none do: the same connection goes on
            BlkResponse r = blk.read(8, 4096);
            assertTrue(r.ok(), r.toString());
            assertArrayEquals(data, r.data());
        }
    }

    @Test
    void aDelayBeyondTheBoundFailsTheRequestThenTheDeviceRecovers() throws Exception {
        Peers.require("nbdkit", "nbdkit");
        Path s = socket("delay");
        Process slow = serve(s, "nbdkit", "-f", "-U", s.toString(), "--filter=delay", "memory", String.valueOf(SIZE), "delay-read=60");
        try (TestMachine machine = TestMachine.builder()
                .option("-drive", "file=nbd+unix:///?socket=" + s + ",format=raw,if=none,id=d0,request-timeout=2,reconnect-delay=20")
                .device("virtio-blk-pci,id=blk0,drive=d0").build()) {
            VirtioBlkDriver blk = blk(machine);
            byte[] data = random(4096, 2);
            assertTrue(blk.write(8, data).ok(), "writes are not delayed");
            long start = System.nanoTime();
            BlkResponse r = blk.read(8, 4096);
            long ms = (System.nanoTime() - start) / 1_000_000;
            assertEquals(1, r.status(), "IOERR for a read the server holds for 60 s: " + r);
            assertTrue(ms < 20_000, "failed within the 2 s request timeout (plus slack), not the 60 s delay: " + ms + " ms");
            // the server is replaced by one without the delay (memory is fresh: the data is gone, the device is not)
            Peers.stop(slow);
            peers.remove(slow);
            Files.deleteIfExists(s);
            serve(s, "nbdkit", "-f", "-U", s.toString(), "memory", String.valueOf(SIZE));
            // requests made while reconnecting wait for it (reconnect-delay=20): the first read succeeds
            BlkResponse again = blk.read(8, 4096);
            assertTrue(again.ok(), again.toString());
            assertArrayEquals(new byte[4096], again.data());
            assertTrue(blk.write(8, data).ok());
            assertArrayEquals(data, blk.read(8, 4096).data());
        }
    }

    @Test
    void aServerThatDiesFailsWhatIsInFlightAndTheDeviceGoesOnWhenItIsBack() throws Exception {
        Peers.require("qemu-nbd", "qemu-utils");
        Path image = dir.resolve("d.img");
        byte[] content = random(SIZE, 3);
        Files.write(image, content);
        Path s = socket("dies");
        String[] cmd = {"qemu-nbd", "-t", "-k", s.toString(), "-f", "raw", "-x", "d", "--shared=4", image.toString()};
        Process server = serve(s, cmd);
        try (TestMachine machine = TestMachine.builder()
                .option("-blockdev", "driver=nbd,node-name=n0,server.type=unix,server.path=" + s + ",export=d,request-timeout=5")
                .device("virtio-blk-pci,id=blk0,drive=n0").build()) {
            VirtioBlkDriver blk = blk(machine);
            assertArrayEquals(Arrays.copyOfRange(content, 0, 4096), blk.read(0, 4096).data());
            List<CompletableFuture<BlkResponse>> inFlight = new ArrayList<>();
            for (int i = 0; i < 16; i++) {
                inFlight.add(blk.submitRead(i * 128L, 65536));
            }
            server.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            long start = System.nanoTime();
            List<BlkResponse> done = blk.awaitAll(inFlight);
            for (BlkResponse r : done) {
                assertTrue(r.ok() || r.status() == 1, "each completes, with its data or IOERR: " + r);
            }
            BlkResponse down = blk.read(0, 4096);
            assertEquals(1, down.status(), "IOERR while the server is down (reconnect-delay=0)");
            assertTrue((System.nanoTime() - start) / 1_000_000 < 15_000, "within the bound");
            Files.deleteIfExists(s);
            serve(s, cmd);
            Await.until(() -> blk.read(0, 4096).ok(), "the device reads again once the server is back");
            assertArrayEquals(Arrays.copyOfRange(content, 4096, 8192), blk.read(8, 4096).data());
        }
    }
}
