package io.jvmm.tests.vfiouser;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.jvmm.emulator.Main;
import io.jvmm.emulator.machine.ExitStatus;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Debian kernel of the vfio-user rig (QEMU 11.1, TCG) reads and writes two jvmm virtio-blk
 * devices served by one jvmm process started from its command line: (a) a disk that is an export
 * of qemu-nbd, (b) a qcow2 whose backing file is an NBD export that same jvmm process serves
 * ({@code -nbd-server}/{@code -export}, rule 5 in a running process). The sha256 of what the guest
 * reads equals the host's; what it writes is on the host afterwards (the qemu-nbd file; the qcow2,
 * which {@code qemu-img check} finds clean).
 */
@Timeout(value = 15, unit = TimeUnit.MINUTES)
class VfioUserNbdLinuxGuestTest {
    private static final int DISK_BYTES = 16 << 20;
    private static final int WRITE_BYTES = 1 << 20;
    private static final long WRITE_OFFSET = 4 << 20;

    @TempDir
    Path dir;

    @Test
    void debianReadsAndWritesVirtioBlkOverNbdAndOverAQcow2BackedByOurOwnExport() throws Exception {
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/qemu-nbd")) && Files.isExecutable(Path.of("/usr/bin/qemu-img")),
                "qemu-nbd and qemu-img are not installed (Debian package qemu-utils; scripts/test installs it)");
        QemuRig rig = QemuRig.get();
        Path share = Files.createDirectories(dir.resolve("rig"));
        Path qemuNbdImage = dir.resolve("qemu-nbd.img");
        byte[] a = random(DISK_BYTES, 1);
        Files.write(qemuNbdImage, a);
        Path base = dir.resolve("base.img");
        byte[] b = random(DISK_BYTES, 2);
        Files.write(base, b);
        Path nbdSock = dir.resolve("jvmm-nbd.sock");
        Path top = dir.resolve("top.qcow2");
        run("qemu-img", "create", "-q", "-f", "qcow2", "-u", "-b", "nbd+unix:///base?socket=" + nbdSock, "-F", "raw",
                top.toString(), String.valueOf(DISK_BYTES));
        Path qemuNbdSock = dir.resolve("qemu-nbd.sock");
        Process qemuNbd = new ProcessBuilder("qemu-nbd", "-t", "-k", qemuNbdSock.toString(), "-f", "raw", "-x", "q",
                "--shared=4", qemuNbdImage.toString()).redirectErrorStream(true).redirectOutput(dir.resolve("qemu-nbd.log").toFile()).start();
        QemuRig.GuestRun run;
        try {
            awaitListening(qemuNbdSock, qemuNbd);
            ByteArrayOutputStream jvmmErr = new ByteArrayOutputStream();
            AtomicInteger jvmmStatus = new AtomicInteger(-1);
            String[] args = {
                "-blockdev", "driver=file,node-name=base,filename=" + base + ",read-only=on",
                "-nbd-server", "addr.type=unix,addr.path=" + nbdSock,
                "-export", "type=nbd,id=e0,node-name=base,name=base",
                "-drive", "file=nbd+unix:///q?socket=" + qemuNbdSock + ",format=raw,if=none,id=d0",
                "-drive", "file=" + top + ",format=qcow2,if=none,id=d1",
                "-device", "virtio-blk-pci,id=blk0,drive=d0,serial=over-qemu-nbd",
                "-device", "virtio-blk-pci,id=blk1,drive=d1,serial=qcow2-over-own",
                "--vfio-user-socket", share.resolve("blk0.sock").toString(),
                "--vfio-user-socket", share.resolve("blk1.sock").toString()};
            Thread jvmm = new Thread(() -> jvmmStatus.set(Main.run(args, OutputStream.nullOutputStream(),
                    new PrintStream(jvmmErr, true, StandardCharsets.UTF_8))), "jvmm-vfio-user");
            jvmm.start();
            try {
                for (String s : List.of("blk0.sock", "blk1.sock")) {
                    VfioUserVirtioFsLinuxGuestTest.awaitSocket(share.resolve(s), jvmm, jvmmErr);
                }
                List<String> qemuArgs = new ArrayList<>(QemuRig.vfioUserDevice("blk0.sock"));
                qemuArgs.addAll(QemuRig.vfioUserDevice("blk1.sock"));
                run = rig.boot(share, guestScript(sha256(a, 0, a.length), sha256(b, 0, b.length)), qemuArgs, 600);
            } finally {
                jvmm.interrupt();
                jvmm.join(30_000);
            }
            assertFalse(jvmm.isAlive(), "jvmm did not stop within 30 s");
            assertEquals(ExitStatus.OK, jvmmStatus.get(), "jvmm's status; it said: " + jvmmErr);
        } finally {
            qemuNbd.destroy();
            qemuNbd.waitFor(10, TimeUnit.SECONDS);
        }
        String console = run.console();
        List<String> failed = console.lines().filter(l -> l.startsWith("CHECK ") && !l.endsWith(" ok")).toList();
        assertTrue(failed.isEmpty(), "checks failed in the guest: " + failed + "\n" + QemuRig.tail(console));
        assertTrue(run.passed(), "the guest's status is the test's: QEMU exited " + run.exitStatus() + "\n" + QemuRig.tail(console));
        for (String check : List.of("nbd-sha256", "qcow2-sha256", "nbd-reread", "qcow2-reread")) {
            assertTrue(console.contains("CHECK " + check + " ok"), "check " + check + " did not run\n" + QemuRig.tail(console));
        }
        Matcher w = Pattern.compile("WRITTEN ([0-9a-f]{64}) ([0-9a-f]{64})").matcher(console);
        assertTrue(w.find(), "the guest did not report what it wrote\n" + QemuRig.tail(console));
        byte[] afterA = Files.readAllBytes(qemuNbdImage);
        assertEquals(w.group(1), sha256(afterA, (int) WRITE_OFFSET, WRITE_BYTES), "qemu-nbd's file holds what the guest wrote");
        // the qcow2's backing export is gone with the process: point it at the base file itself to read it back
        run("qemu-img", "rebase", "-u", "-F", "raw", "-b", base.toString(), top.toString());
        String check = run("qemu-img", "check", top.toString());
        assertTrue(check.contains("No errors were found"), check);
        Path flat = dir.resolve("flat.raw");
        run("qemu-img", "convert", "-O", "raw", top.toString(), flat.toString());
        byte[] afterB = Files.readAllBytes(flat);
        assertEquals(w.group(2), sha256(afterB, (int) WRITE_OFFSET, WRITE_BYTES), "the qcow2 holds what the guest wrote");
        assertEquals(sha256(b, 0, (int) WRITE_OFFSET), sha256(afterB, 0, (int) WRITE_OFFSET), "and the backing data elsewhere");
    }

    private static String guestScript(String sumA, String sumB) {
        return """
                #!/bin/sh
                fails=0
                ok() { echo "CHECK $1 ok"; }
                bad() { echo "CHECK $1 FAILED: $2"; fails=$((fails + 1)); }
                dev() { for d in /sys/block/vd*; do [ "$(cat $d/serial 2>/dev/null)" = "$1" ] && echo /dev/$(basename $d); done; }
                a=$(dev over-qemu-nbd); b=$(dev qcow2-over-own)
                echo "qemu-nbd disk is $a, qcow2 disk is $b"
                sum=$(sha256sum $a | cut -d' ' -f1)
                [ "$sum" = "%s" ] && ok nbd-sha256 || bad nbd-sha256 "sha256 $sum"
                sum=$(sha256sum $b | cut -d' ' -f1)
                [ "$sum" = "%s" ] && ok qcow2-sha256 || bad qcow2-sha256 "sha256 $sum"
                head -c %d /dev/urandom > /tmp/wa
                head -c %d /dev/urandom > /tmp/wb
                dd if=/tmp/wa of=$a bs=65536 seek=%d conv=fsync 2>/dev/null || bad nbd-write "dd failed"
                dd if=/tmp/wb of=$b bs=65536 seek=%d conv=fsync 2>/dev/null || bad qcow2-write "dd failed"
                echo 3 > /proc/sys/vm/drop_caches
                ra=$(dd if=$a bs=65536 skip=%d count=%d 2>/dev/null | sha256sum | cut -d' ' -f1)
                rb=$(dd if=$b bs=65536 skip=%d count=%d 2>/dev/null | sha256sum | cut -d' ' -f1)
                wa=$(sha256sum /tmp/wa | cut -d' ' -f1); wb=$(sha256sum /tmp/wb | cut -d' ' -f1)
                [ "$ra" = "$wa" ] && ok nbd-reread || bad nbd-reread "read back $ra"
                [ "$rb" = "$wb" ] && ok qcow2-reread || bad qcow2-reread "read back $rb"
                echo "WRITTEN $wa $wb"
                exit $fails
                """.formatted(sumA, sumB, WRITE_BYTES, WRITE_BYTES, WRITE_OFFSET / 65536, WRITE_OFFSET / 65536,
                WRITE_OFFSET / 65536, WRITE_BYTES / 65536, WRITE_OFFSET / 65536, WRITE_BYTES / 65536);
    }

    private static void awaitListening(Path socket, Process server) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (true) {
            assertTrue(server.isAlive(), "qemu-nbd ended before listening");
            try (SocketChannel c = SocketChannel.open(StandardProtocolFamily.UNIX)) {
                c.connect(UnixDomainSocketAddress.of(socket));
                return;
            } catch (IOException e) {
                assertTrue(System.nanoTime() < deadline, "qemu-nbd does not listen on " + socket);
                Thread.sleep(20);
            }
        }
    }

    private static String run(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), String.join(" ", cmd) + " did not finish");
        assertEquals(0, p.exitValue(), String.join(" ", cmd) + ": " + out);
        return out;
    }

    private static byte[] random(int n, long seed) {
        byte[] x = new byte[n];
        new Random(seed).nextBytes(x);
        return x;
    }

    private static String sha256(byte[] data, int offset, int length) throws Exception {
        MessageDigest d = MessageDigest.getInstance("SHA-256");
        d.update(data, offset, length);
        return HexFormat.of().formatHex(d.digest());
    }
}
