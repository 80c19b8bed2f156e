package io.jvmm.tests.p9;

import io.jvmm.chardev.Await;
import io.jvmm.devices.p9.server.P9Server;
import io.jvmm.devices.p9.server.P9ServerConfig;
import io.jvmm.devices.p9.server.P9ServerMetrics;
import io.jvmm.devices.p9.server.P9SocketServer;
import io.jvmm.devices.p9.server.SecurityModel;
import io.jvmm.testkit.TestMachine;
import io.jvmm.testkit.driver.Guest;
import io.jvmm.testkit.driver.p9.P9Client;
import io.jvmm.testkit.driver.p9.P9Wire;
import io.jvmm.testkit.driver.p9.VirtioP9Driver;
import io.jvmm.testkit.driver.virtio.VirtioPciDriver;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Peers nobody here wrote: Debian's diod. Its user-space clients diodls and diodcat list and read
 * jvmm's export (Unix socket and TCP); and jvmm's virtio-9p device (chardev=) in front of diod
 * itself, driven by the guest driver.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class DiodPeerTest {
    private static final Path DIOD = Path.of("/usr/sbin/diod");
    private static final Path DIODLS = Path.of("/usr/sbin/diodls");
    private static final Path DIODCAT = Path.of("/usr/sbin/diodcat");

    @TempDir
    Path dir;

    private Path export() throws Exception {
        Path root = Files.createDirectories(dir.resolve("export"));
        byte[] big = new byte[5 << 20];
        new Random(11).nextBytes(big);
        Files.write(root.resolve("big.bin"), big);
        Path many = Files.createDirectory(root.resolve("many"));
        for (int i = 0; i < 700; i++) {
            Files.writeString(many.resolve("entry-" + i), "x");
        }
        return root;
    }

    private record Run(int status, byte[] out, String err) {
    }

    private static Run run(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).start();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Thread t = new Thread(() -> {
            try {
                p.getInputStream().transferTo(out);
            } catch (java.io.IOException e) {
                // the process ended
            }
        });
        t.start();
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), String.join(" ", cmd) + " did not finish");
        t.join();
        return new Run(p.exitValue(), out.toByteArray(), err);
    }

    private void diodClientsReadOurExport(String server, Path root) throws Exception {
        Run ls = run(DIODLS.toString(), "-s", server, "-a", root.toString(), "/");
        assertEquals(0, ls.status(), "diodls: " + ls.err());
        List<String> names = new String(ls.out(), StandardCharsets.UTF_8).lines().toList();
        assertTrue(names.containsAll(List.of("big.bin", "many")), names.toString());
        Run many = run(DIODLS.toString(), "-s", server, "-a", root.toString(), "/many");
        assertEquals(0, many.status(), many.err());
        assertEquals(700, new String(many.out(), StandardCharsets.UTF_8).lines().filter(l -> l.startsWith("entry-")).count(),
                "700 entries through several Treaddir");
        Run longLs = run(DIODLS.toString(), "-l", "-s", server, "-a", root.toString(), "/");
        assertEquals(0, longLs.status(), longLs.err());
        assertTrue(new String(longLs.out(), StandardCharsets.UTF_8).contains(String.valueOf(5 << 20)), "diodls -l shows the size: " + new String(longLs.out(), StandardCharsets.UTF_8) + longLs.err());
        Run cat = run(DIODCAT.toString(), "-s", server, "-a", root.toString(), "big.bin");
        assertEquals(0, cat.status(), "diodcat: " + cat.err());
        assertArrayEquals(Files.readAllBytes(root.resolve("big.bin")), cat.out(), "diodcat reads the 5 MiB file's bytes");
    }

    @Test
    void diodlsAndDiodcatListAndReadOurExportOverAUnixSocketAndTcp() throws Exception {
        assumeTrue(Files.isExecutable(DIODLS) && Files.isExecutable(DIODCAT), "diod's clients are not installed (Debian package diod)");
        Path root = export();
        try (P9Server server = new P9Server("peer", P9ServerConfig.of(root, true, SecurityModel.PASSTHROUGH), P9ServerMetrics.unregistered("peer"))) {
            Path socket = dir.resolve("ours.sock");
            try (P9SocketServer unix = P9SocketServer.unix(server, socket);
                 P9SocketServer tcp = P9SocketServer.tcp(server, "127.0.0.1", 0)) {
                diodClientsReadOurExport(socket.toString(), root);
                diodClientsReadOurExport("127.0.0.1:" + tcp.port(), root);
            }
            Await.until(() -> server.metrics().fidsHeld() == 0, "diod's clients clunked every fid");
        }
    }

    @Test
    void ourDeviceInFrontOfDiodServesTheGuestDriver() throws Exception {
        assumeTrue(Files.isExecutable(DIOD), "diod is not installed (Debian package diod)");
        Path root = export();
        Path socket = dir.resolve("diod.sock");
        List<String> cmd = new ArrayList<>(List.of(DIOD.toString(), "-f", "-n", "-N", "-e", root.toString(), "-l", socket.toString(),
                "-L", "stderr"));
        Process diod = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(dir.resolve("diod.log").toFile()).start();
        try {
            Await.until(() -> Files.exists(socket) || !diod.isAlive(), "diod listens on " + socket);
            assertTrue(diod.isAlive(), "diod ended: " + Files.readString(dir.resolve("diod.log")));
            try (TestMachine m = TestMachine.builder().option("-m", "256M")
                    .option("-chardev", "socket,id=c0,path=" + socket + ",reconnect-ms=100")
                    .device("virtio-9p-pci,id=p9,chardev=c0,mount_tag=diod").build()) {
                VirtioP9Driver d = new VirtioP9Driver(VirtioPciDriver.probeFirst(Guest.of(m), 9)).initialize();
                assertEquals("diod", d.mountTag());
                P9Client c = new P9Client(d, Duration.ofSeconds(30));
                assertTrue(c.version(512000) >= 8192, "diod negotiated an msize");
                P9Wire.Qid.read(c.rpc(P9Wire.attach(0, 0, root.toString())));
                c.walk(0, 1, "big.bin");
                c.lopen(1, P9Wire.O_RDONLY);
                byte[] got;
                try {
                    got = c.readAll(1);
                } catch (RuntimeException e) {
                    throw new AssertionError("msize " + c.msize() + "; diod said: " + Files.readString(dir.resolve("diod.log")), e);
                }
                assertArrayEquals(Files.readAllBytes(root.resolve("big.bin")), got, "diod bytes through our device");
                assertEquals(700, c.readdirNames(openDir(c, 2, "many")).stream().filter(n -> n.startsWith("entry-")).count());
                c.walk(0, 3);
                c.rpc(P9Wire.lcreate(3, "written-by-guest", P9Wire.O_RDWR, 0644, 0));
                assertEquals(11, c.write(3, 0, "through 9p!".getBytes()));
                c.clunk(3);
                assertEquals("through 9p!", Files.readString(root.resolve("written-by-guest")));
                int victim = c.send(P9Wire.read(1, 0, 4096));
                int f = c.flush(victim);
                c.await(f);
                assertTrue(c.violations().isEmpty(), "diod's flush through our device: " + c.violations());
                Await.until(() -> d.inFlight() == 0, "every chain back");

                diod.destroyForcibly().waitFor();        // diod dies: requests now fail with EIO, no chain is held
                Await.until(() -> c.errno(P9Wire.getattr(1)) == 5, "EIO once the server is gone");
                assertEquals(0, d.inFlight());
                assertTrue(m.meters().get("jvmm.p9.backend.failures").counter().count() >= 1);
            }
        } finally {
            diod.destroyForcibly().waitFor();
        }
    }

    private static int openDir(P9Client c, int fid, String name) {
        c.walk(0, fid, name);
        c.lopen(fid, P9Wire.O_RDONLY);
        return fid;
    }
}
