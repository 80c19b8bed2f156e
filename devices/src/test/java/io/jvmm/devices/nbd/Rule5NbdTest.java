package io.jvmm.devices.nbd;

import static org.junit.jupiter.api.Assertions.*;

import io.jvmm.chardev.StalledWaitReport;
import io.jvmm.chardev.Watchdog;
import io.jvmm.devices.blk.BlkDevice;
import io.jvmm.devices.blk.BlockBackend;
import io.jvmm.devices.blk.BlockOpener;
import io.jvmm.devices.blk.Peers;
import io.jvmm.devices.blk.RawFileBackend;
import io.jvmm.devices.blk.loop.NettyLoop;
import io.jvmm.devices.blk.nbd.NbdClientSettings;
import io.jvmm.platform.options.UserError;
import io.jvmm.testkit.TestMachine;
import io.jvmm.testkit.driver.Guest;
import io.jvmm.testkit.driver.blk.BlkResponse;
import io.jvmm.testkit.driver.blk.VirtioBlkDriver;
import io.jvmm.testkit.driver.virtio.VirtioPciDriver;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Rule 5 end to end: one process serves an NBD export of a base image and opens a qcow2 whose
 * backing file is that export, the open running as a synchronous wait on the main loop. By
 * default the listener and the client connection run on their own loops and the open completes.
 * With {@code x-nbd-listener=main-loop} (QEMU's historic wiring) the listener is bound to the very
 * loop the open blocks: the server never accepts the client the open waits for, the open cannot
 * complete, and the watchdog reports the stalled wait naming that listener. The tests of the switch
 * fail if the deadlock does not happen. The same with the opener being a virtio-blk device built
 * into a machine.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class Rule5NbdTest {
    static final int SIZE = 4 << 20;
    /** Short, so the deadlocked open ends soon after the watchdog (1 s) has reported it. */
    static final int OPEN_TIMEOUT_S = 4;

    @TempDir
    Path dir;
    private byte[] content;
    private Path top;
    private NbdServer server;
    private BlockBackend exported;
    private final List<StalledWaitReport> reports = new CopyOnWriteArrayList<>();
    private Watchdog.Subscription subscription;

    @BeforeEach
    void setUp() {
        Peers.require("qemu-img", "qemu-utils");
        subscription = Watchdog.instance().subscribe(reports::add);
    }

    @AfterEach
    void tearDown() {
        subscription.close();
        if (server != null) {
            server.close();
        }
        if (exported != null) {
            exported.close();
        }
    }

    /** Serves base.img as export 'base' with the listener where {@code placement} says, and makes top.qcow2 over it. */
    private void serve(NbdServer.Listener placement) throws Exception {
        content = new byte[SIZE];
        new Random(5).nextBytes(content);
        Path base = dir.resolve("base.img");
        Files.write(base, content);
        exported = new RawFileBackend("export", base, true, 2);
        Path socket = dir.resolve("nbd.sock");
        server = NbdServer.start("nbd0", NbdAddress.unix(socket), placement, 8);
        server.addExport(new NbdExport("base", null, exported, false, true));
        top = dir.resolve("top.qcow2");
        Peers.ok("qemu-img", "create", "-q", "-f", "qcow2", "-u", "-b", "nbd+unix:///base?socket=" + socket, "-F", "raw",
                top.toString(), String.valueOf(SIZE));
    }

    private BlockBackend openTop() {
        NbdClientSettings s = new NbdClientSettings(Duration.ofSeconds(OPEN_TIMEOUT_S), Duration.ofSeconds(30), Duration.ZERO);
        return BlockOpener.open(new BlockOpener.Spec("rule5-test", top.toString(), "qcow2", false, s));
    }

    private StalledWaitReport listenerReport() {
        return reports.stream().filter(r -> r.what().contains("NBD listener 'nbd0' on loop " + NettyLoop.MAIN)).findFirst().orElse(null);
    }

    @Test
    void byDefaultTheOpenCompletesBecauseTheListenerHasItsOwnLoop() throws Exception {
        serve(NbdServer.Listener.OWN_LOOP);
        assertNotEquals(NettyLoop.MAIN, server.listenerLoop().name());
        try (BlockBackend b = openTop()) {
            byte[] all = new byte[SIZE];
            b.read(ByteBuffer.wrap(all), 0).get(30, TimeUnit.SECONDS);
            assertArrayEquals(content, all, "the qcow2 reads its backing export");
            byte[] data = new byte[8192];
            new Random(6).nextBytes(data);
            b.write(ByteBuffer.wrap(data), 65536).get(30, TimeUnit.SECONDS);
            byte[] back = new byte[8192];
            b.read(ByteBuffer.wrap(back), 65536).get(30, TimeUnit.SECONDS);
            assertArrayEquals(data, back);
        }
        assertNull(listenerReport(), "no stalled wait: " + reports);
    }

    @Test
    void withTheListenerOnTheMainLoopTheOpenDeadlocksAndTheWatchdogNamesTheListener() throws Exception {
        serve(NbdServer.Listener.MAIN_LOOP);
        assertEquals(NettyLoop.MAIN, server.listenerLoop().name());
        long start = System.nanoTime();
        UserError e = assertThrows(UserError.class, this::openTop,
                "the open completed: the historic wiring no longer deadlocks, so this switch shows nothing");
        long tookMs = (System.nanoTime() - start) / 1_000_000;
        assertTrue(e.getMessage().contains("timed out"), e.getMessage());
        assertTrue(tookMs >= OPEN_TIMEOUT_S * 1000L - 100, "the open gave up only at its timeout: " + tookMs + " ms");
        StalledWaitReport r = listenerReport();
        assertNotNull(r, "the watchdog reported the stalled wait naming the listener; reports: " + reports);
        assertEquals(NettyLoop.MAIN, r.context());
        assertTrue(r.running().contains("a blocking wait for opening NBD export 'base'"), r.message());
    }

    @Test
    void aVirtioBlkDeviceOverTheQcow2OpensByDefault() throws Exception {
        serve(NbdServer.Listener.OWN_LOOP);
        try (TestMachine machine = TestMachine.builder()
                .option("-drive", "file=" + top + ",format=qcow2,if=none,id=d0,open-timeout=" + OPEN_TIMEOUT_S)
                .device("virtio-blk-pci,id=blk0,drive=d0").build()) {
            VirtioBlkDriver blk = new VirtioBlkDriver(VirtioPciDriver.probeFirst(Guest.of(machine), BlkDevice.DEVICE_TYPE));
            blk.initialize();
            BlkResponse r = blk.read(100, 65536);
            assertTrue(r.ok(), r.toString());
            assertArrayEquals(Arrays.copyOfRange(content, 100 * 512, 100 * 512 + 65536), r.data());
        }
        assertNull(listenerReport(), "no stalled wait: " + reports);
    }

    @Test
    void aVirtioBlkDeviceOverTheQcow2DeadlocksWithTheListenerOnTheMainLoop() throws Exception {
        serve(NbdServer.Listener.MAIN_LOOP);
        UserError e = assertThrows(UserError.class, () -> TestMachine.builder()
                .option("-drive", "file=" + top + ",format=qcow2,if=none,id=d0,open-timeout=" + OPEN_TIMEOUT_S)
                .device("virtio-blk-pci,id=blk0,drive=d0").build(),
                "the device was built: the historic wiring no longer deadlocks, so this switch shows nothing");
        assertTrue(e.getMessage().contains("-drive d0") && e.getMessage().contains("timed out"), e.getMessage());
        assertNotNull(listenerReport(), "the watchdog reported the stalled wait naming the listener; reports: " + reports);
    }
}
