package io.jvmm.tests.racelab;

import io.jvmm.chardev.StalledWaitReport;
import io.jvmm.chardev.Watchdog;
import io.jvmm.devices.blk.BlockBackend;
import io.jvmm.devices.blk.BlockOpener;
import io.jvmm.devices.blk.RawFileBackend;
import io.jvmm.devices.blk.loop.NettyLoop;
import io.jvmm.devices.blk.nbd.NbdClientSettings;
import io.jvmm.devices.nbd.NbdAddress;
import io.jvmm.devices.nbd.NbdExport;
import io.jvmm.devices.nbd.NbdServer;
import io.jvmm.platform.options.UserError;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

/**
 * Race (c)'s jvmm half: one jvmm process serves an NBD export of a raw image and opens a qcow2
 * whose backing file is that export, the open being a synchronous wait on the main loop, as
 * qemu-storage-daemon's start-up is. By default the NBD listener has its own loop and the open
 * completes (the qcow2 then reads its backing file's content); with {@code x-nbd-listener=main-loop}
 * the listener sits on the loop the open blocks, the open can only time out, and the watchdog
 * reports the stalled wait naming the listener. The image is made by Debian's qemu-img (-u: the
 * export does not exist yet).
 */
public final class JvmmNbdSelfServed {
    static final int SIZE = 4 << 20;

    /** One start: whether the qcow2 opened and read its backing data, whether the watchdog named the listener. */
    public record Outcome(boolean completed, boolean watchdogNamedListener, long millis, String error) {
    }

    private JvmmNbdSelfServed() {
    }

    /** One start with the listener where {@code placement} says; the open gives up after {@code openTimeout}. */
    public static Outcome start(Path dir, NbdServer.Listener placement, Duration openTimeout) throws Exception {
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx------"));
        byte[] content = new byte[SIZE];
        new Random(13).nextBytes(content);
        Path base = dir.resolve("base.raw");
        Files.write(base, content);
        Path socket = dir.resolve("nbd.sock");
        Path top = dir.resolve("top.qcow2");
        List<StalledWaitReport> reports = new CopyOnWriteArrayList<>();
        try (Watchdog.Subscription sub = Watchdog.instance().subscribe(reports::add);
             BlockBackend exported = new RawFileBackend("race-c-export", base, false, 2);
             NbdServer server = NbdServer.start("race-c", NbdAddress.unix(socket), placement, 8)) {
            server.addExport(new NbdExport("base", null, exported, true, true));
            qemuImg("create", "-q", "-f", "qcow2", "-u", "-b", "nbd+unix:///base?socket=" + socket, "-F", "raw", top.toString(),
                    String.valueOf(SIZE));
            long start = System.nanoTime();
            String error = null;
            boolean completed = false;
            NbdClientSettings s = new NbdClientSettings(openTimeout, Duration.ofSeconds(30), Duration.ZERO);
            try (BlockBackend b = BlockOpener.open(new BlockOpener.Spec("race-c", top.toString(), "qcow2", false, s))) {
                byte[] back = new byte[65536];
                b.read(ByteBuffer.wrap(back), 1 << 20).get(30, TimeUnit.SECONDS);
                completed = Arrays.equals(back, Arrays.copyOfRange(content, 1 << 20, (1 << 20) + 65536));
                if (!completed) {
                    error = "the qcow2 opened but read other data than its backing export's";
                }
            } catch (UserError e) {
                error = e.getMessage();
            }
            long millis = (System.nanoTime() - start) / 1_000_000;
            String listener = "NBD listener 'race-c' on loop " + NettyLoop.MAIN;
            boolean named = reports.stream().anyMatch(r -> r.what().contains(listener));
            return new Outcome(completed, named, millis, error);
        }
    }

    private static void qemuImg(String... args) throws Exception {
        List<String> cmd = new java.util.ArrayList<>(List.of(QsdNbdSelfDeadlock.QEMU_IMG.toString()));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new AssertionError("qemu-img " + String.join(" ", args) + " failed: " + out);
        }
    }
}
