package io.jvmm.tests.vfiouser;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.jvmm.chardev.Await;
import io.jvmm.chardev.OpenFiles;
import io.jvmm.emulator.Main;
import io.jvmm.emulator.machine.ExitStatus;
import io.jvmm.tests.fs.Virtiofsd;
import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
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
 * virtio-fs end to end with every piece real: Debian bookworm's virtiofsd (a separate process on
 * a host directory holding a 256 MiB file), jvmm's vhost-user-fs-pci front-end as the command line
 * builds it ({@code jvmm --vfio-user-socket ... -chardev socket,... -device vhost-user-fs-pci,...}),
 * served over vfio-user to QEMU 11.1, and the Debian trixie kernel's virtiofs driver in a TCG
 * guest. One boot; each check prints a CHECK line and the guest's exit status counts failures:
 * <ul>
 *   <li>{@code mount -t virtiofs myfs /mnt} works and /proc/mounts shows it;</li>
 *   <li>the sha256 of the 256 MiB file read through virtio-fs equals the host's;</li>
 *   <li>a 4 MiB file written in the guest is on the host with the sha256 the guest reports;</li>
 *   <li>the device's request queue took PCI-MSIX interrupts (the back-end's completions reach
 *       the guest through the served device's notifiers and QEMU's eventfds);</li>
 *   <li>unbinding virtio-pci from the device and binding it again resets it (vhost-user ring stop
 *       and device reset through vfio-user) and re-initialises it: a new mount reads the written
 *       file back, and interrupts arrive on the new vectors.</li>
 * </ul>
 */
@Timeout(value = 15, unit = TimeUnit.MINUTES)
class VfioUserVirtioFsLinuxGuestTest {
    private static final int BIG_BYTES = 256 << 20;
    private static final int WRITE_BYTES = 4 << 20;
    private static final String TAG = "myfs";

    @TempDir
    Path dir;

    @Test
    void debianVirtiofsMountsThroughJvmmVhostUserFsOverVfioUser() throws Exception {
        assumeTrue(Virtiofsd.available(), "virtiofsd is not installed at " + Virtiofsd.BINARY + " (package qemu-system-common)");
        QemuRig rig = QemuRig.get();
        Path share = Files.createDirectories(dir.resolve("rig"));       // bind-mounted into the rig root: socket, kernel, initrd
        Path exported = Files.createDirectories(dir.resolve("exported"));  // what virtiofsd serves
        Path vfsd = Files.createDirectories(dir.resolve("virtiofsd"));
        String bigSum = writeRandomFile(exported.resolve("big"), BIG_BYTES, 256);

        QemuRig.GuestRun run;
        Virtiofsd virtiofsd = Virtiofsd.start(exported, vfsd);
        try {
            Path socket = share.resolve("fs.sock");
            ByteArrayOutputStream jvmmErr = new ByteArrayOutputStream();
            AtomicInteger jvmmStatus = new AtomicInteger(-1);
            Thread jvmm = new Thread(() -> jvmmStatus.set(Main.run(new String[] {"--vfio-user-socket", socket.toString(),
                    "-chardev", "socket,id=c0,path=" + virtiofsd.socket, "-device", "vhost-user-fs-pci,chardev=c0,tag=" + TAG + ",id=fs0"},
                    OutputStream.nullOutputStream(), new PrintStream(jvmmErr, true, StandardCharsets.UTF_8))), "jvmm-vfio-user");
            jvmm.start();
            try {
                awaitSocket(socket, jvmm, jvmmErr);
                run = rig.boot(share, guestScript(bigSum), QemuRig.vfioUserDevice("fs.sock"), 600);
            } finally {
                jvmm.interrupt();   // DeviceServerMain stops its server and device when interrupted
                jvmm.join(30_000);
            }
            assertFalse(jvmm.isAlive(), "jvmm did not stop within 30 s");
            assertEquals(ExitStatus.OK, jvmmStatus.get(), "jvmm's status; it said: " + jvmmErr);
        } finally {
            virtiofsd.close();
        }

        String console = run.console();
        String context = "\n" + QemuRig.tail(console) + "\nvirtiofsd: " + virtiofsd.logTail();
        List<String> failed = console.lines().filter(l -> l.startsWith("CHECK ") && !l.endsWith(" ok")).toList();
        assertTrue(failed.isEmpty(), "checks failed in the guest: " + failed + context);
        assertTrue(run.passed(), "the guest's status is the test's: QEMU exited " + run.exitStatus() + context);
        for (String check : List.of("mount", "proc-mounts", "big-sha256", "write", "fs-msix", "umount", "fs-unbound", "remount",
                "reread", "msix-after-rebind")) {
            assertTrue(console.contains("CHECK " + check + " ok"), "check " + check + " did not run" + context);
        }

        Matcher written = Pattern.compile("WRITTEN ([0-9a-f]{64})").matcher(console);
        assertTrue(written.find(), "the guest did not report what it wrote" + context);
        Path fromGuest = exported.resolve("from-guest");
        assertTrue(Files.isRegularFile(fromGuest), "the file the guest wrote is not in " + exported + context);
        byte[] onHost = Files.readAllBytes(fromGuest);
        assertEquals(WRITE_BYTES, onHost.length, "size of the guest's file on the host");
        assertEquals(written.group(1), sha256(onHost), "the host reads what the guest wrote");
    }

    /** Writes {@code bytes} of seeded random data in chunks and returns its sha256 (computed while writing). */
    static String writeRandomFile(Path file, int bytes, long seed) throws Exception {
        MessageDigest d = MessageDigest.getInstance("SHA-256");
        Random random = new Random(seed);
        byte[] chunk = new byte[1 << 20];
        try (OutputStream out = Files.newOutputStream(file)) {
            for (int done = 0; done < bytes; done += chunk.length) {
                random.nextBytes(chunk);
                d.update(chunk);
                out.write(chunk);
            }
        }
        return HexFormat.of().formatHex(d.digest());
    }

    /**
     * Waits (60 s at most) for jvmm, running on {@code jvmm}, to listen on its vfio-user socket.
     * Listening, not just the file: it appears at bind, and QEMU's vfio-user-pci connects once.
     */
    static void awaitSocket(Path socket, Thread jvmm, ByteArrayOutputStream err) {
        Await.until(() -> OpenFiles.isListening(socket) || !jvmm.isAlive(), Duration.ofSeconds(60),
                () -> "jvmm did not listen on " + socket + " within 60 s: " + err.toString(StandardCharsets.UTF_8));
        assertTrue(jvmm.isAlive(), () -> "jvmm ended before serving the device: " + err.toString(StandardCharsets.UTF_8));
    }

    /** The guest's /jvmm-run: every check prints a CHECK line; the exit status counts failures. */
    private static String guestScript(String bigSum) {
        return """
                #!/bin/sh
                fails=0
                ok() { echo "CHECK $1 ok"; }
                bad() { echo "CHECK $1 FAILED: $2"; fails=$((fails + 1)); }
                fsdev() { for d in /sys/bus/virtio/drivers/virtiofs/virtio*; do [ -e "$d" ] && readlink -f "$d"; done; }
                reqirqs() { grep PCI-MSIX /proc/interrupts | grep "$1-requests" | awk '{ n += $2 + $3 } END { print n + 0 }'; }

                mkdir -p /mnt
                if ! mount -t virtiofs %1$s /mnt; then
                    bad mount "mount -t virtiofs %1$s /mnt failed"
                    dmesg | tail -20
                    exit $fails
                fi
                ok mount
                grep -q "^%1$s /mnt virtiofs " /proc/mounts && ok proc-mounts || bad proc-mounts "$(grep ' /mnt ' /proc/mounts)"
                sum=$(sha256sum /mnt/big | cut -d' ' -f1)
                [ "$sum" = "%2$s" ] && ok big-sha256 || bad big-sha256 "sha256 $sum"
                head -c %3$d /dev/urandom > /tmp/w
                cp /tmp/w /mnt/from-guest && sync && ok write || bad write "cp to /mnt failed"
                wsum=$(sha256sum /tmp/w | cut -d' ' -f1)
                echo "WRITTEN $wsum"

                dev=$(fsdev); fsvirtio=$(basename "$dev"); fspci=$(basename "$(dirname "$dev")")
                echo "virtiofs is $fsvirtio on $fspci"
                grep PCI-MSIX /proc/interrupts
                [ "$(reqirqs "$fsvirtio")" -gt 0 ] && ok fs-msix || bad fs-msix "no PCI-MSIX interrupts for $fsvirtio-requests"
                umount /mnt && ok umount || bad umount "umount /mnt failed"

                echo "$fspci" > /sys/bus/pci/drivers/virtio-pci/unbind
                [ -z "$(fsdev)" ] && ok fs-unbound || bad fs-unbound "virtiofs still bound: $(fsdev)"
                echo "$fspci" > /sys/bus/pci/drivers/virtio-pci/bind
                i=0; while [ -z "$(fsdev)" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
                if mount -t virtiofs %1$s /mnt; then
                    ok remount
                    again=$(sha256sum /mnt/from-guest | cut -d' ' -f1)
                    [ "$again" = "$wsum" ] && ok reread || bad reread "read back $again"
                    umount /mnt
                else
                    bad remount "mount after the rebind failed"
                fi
                newfs=$(basename "$(fsdev)")
                grep PCI-MSIX /proc/interrupts
                [ "$(reqirqs "$newfs")" -gt 0 ] && ok msix-after-rebind || bad msix-after-rebind "no PCI-MSIX interrupts for $newfs-requests"
                exit $fails
                """.formatted(TAG, bigSum, WRITE_BYTES);
    }

    private static String sha256(byte[] data) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
    }
}
