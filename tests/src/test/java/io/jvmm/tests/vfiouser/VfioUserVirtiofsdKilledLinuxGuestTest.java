package io.jvmm.tests.vfiouser;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.jvmm.emulator.Main;
import io.jvmm.emulator.machine.ExitStatus;
import io.jvmm.tests.fs.Virtiofsd;
import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A dead virtiofsd as a user meets it, with every piece real: Debian's virtiofsd serving a 96 MiB
 * file, jvmm's vhost-user-fs-pci from the command line served over vfio-user to QEMU 11.1, and
 * the Debian trixie kernel's virtiofs driver in a TCG guest (one boot):
 * <ul>
 *   <li>{@code dd bs=4k} reads the file; once it has read 8 MiB the guest asks the host to kill
 *       virtiofsd with SIGKILL. dd ends with an error (before jvmm completed the requests in
 *       flight itself, it stayed in D state for ever, since Linux's virtiofs driver ignores
 *       DEVICE_NEEDS_RESET);</li>
 *   <li>a later {@code ls} of the mount returns, with an error ("Transport endpoint is not
 *       connected"), and the mount can be unmounted;</li>
 *   <li>the guest asks the host to start virtiofsd again and unbinds and binds the driver until
 *       the device's reset finds the new virtiofsd (jvmm reconnects at the reset): the file is
 *       mounted and reads back with the host's sha256.</li>
 * </ul>
 */
@Timeout(value = 15, unit = TimeUnit.MINUTES)
class VfioUserVirtiofsdKilledLinuxGuestTest {
    private static final int BIG_BYTES = 96 << 20;
    private static final String TAG = "myfs";

    @TempDir
    Path dir;

    @Test
    void aKilledVirtiofsdFailsTheReaderCleanlyAndARestartedOneServesAfterARebind() throws Exception {
        assumeTrue(Virtiofsd.available(), "virtiofsd is not installed at " + Virtiofsd.BINARY + " (package qemu-system-common)");
        QemuRig rig = QemuRig.get();
        Path share = Files.createDirectories(dir.resolve("rig"));
        Path exported = Files.createDirectories(dir.resolve("exported"));
        Path vfsd = Files.createDirectories(dir.resolve("virtiofsd"));
        String bigSum = VfioUserVirtioFsLinuxGuestTest.writeRandomFile(exported.resolve("big"), BIG_BYTES, 13);

        AtomicReference<Virtiofsd> virtiofsd = new AtomicReference<>(Virtiofsd.start(exported, vfsd));
        AtomicInteger kills = new AtomicInteger();
        AtomicInteger restarts = new AtomicInteger();
        QemuRig.GuestRun run;
        try {
            Path socket = share.resolve("fs.sock");
            ByteArrayOutputStream jvmmErr = new ByteArrayOutputStream();
            AtomicInteger jvmmStatus = new AtomicInteger(-1);
            Thread jvmm = new Thread(() -> jvmmStatus.set(Main.run(new String[] {"--vfio-user-socket", socket.toString(),
                    "-chardev", "socket,id=c0,path=" + virtiofsd.get().socket, "-device", "vhost-user-fs-pci,chardev=c0,tag=" + TAG + ",id=fs0"},
                    OutputStream.nullOutputStream(), new PrintStream(jvmmErr, true, StandardCharsets.UTF_8))), "jvmm-vfio-user");
            jvmm.start();
            try {
                VfioUserVirtioFsLinuxGuestTest.awaitSocket(socket, jvmm, jvmmErr);
                run = rig.boot(share, guestScript(bigSum), QemuRig.vfioUserDevice("fs.sock"), 600, line -> {
                    try {
                        if (line.startsWith("HOST: kill virtiofsd")) {
                            virtiofsd.get().kill();
                            kills.incrementAndGet();
                        } else if (line.startsWith("HOST: start virtiofsd")) {
                            virtiofsd.set(Virtiofsd.start(exported, vfsd));
                            restarts.incrementAndGet();
                        }
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                });
            } finally {
                jvmm.interrupt();
                jvmm.join(30_000);
            }
            assertFalse(jvmm.isAlive(), "jvmm did not stop within 30 s");
            assertEquals(ExitStatus.OK, jvmmStatus.get(), "jvmm's status; it said: " + jvmmErr);
        } finally {
            virtiofsd.get().close();
        }

        String console = run.console();
        System.out.println("guest console (end):\n" + QemuRig.tail(console));   // the evidence, in the surefire output
        String context = "\n" + QemuRig.tail(console) + "\nvirtiofsd: " + virtiofsd.get().logTail();
        assertEquals(1, kills.get(), "the guest asked for the kill once" + context);
        assertEquals(1, restarts.get(), "the guest asked for the restart once" + context);
        QemuRig.assertChecks(console, List.of("mount", "dd-progress", "dd-ends", "dd-error", "ls-returns", "ls-error", "umount",
                "rebind", "remount", "reread"));
        assertTrue(run.passed(), "the guest's status is the test's: QEMU exited " + run.exitStatus() + context);
    }

    /**
     * The guest's /jvmm-run. Waits are polls with generous bounds (a check fails, rather than the
     * guest hanging, when a bound passes); "HOST: ..." lines ask the test to act.
     */
    private static String guestScript(String bigSum) {
        return """
                #!/bin/sh
                fails=0
                ok() { echo "CHECK $1 ok"; }
                bad() { echo "CHECK $1 FAILED: $2"; fails=$((fails + 1)); }
                fsdev() { for d in /sys/bus/virtio/drivers/virtiofs/virtio*; do [ -e "$d" ] && readlink -f "$d"; done; }
                # waitgone PID TENTHS: true once PID has exited, false if it still runs after TENTHS tenths of a second
                waitgone() { i=0; while kill -0 "$1" 2>/dev/null; do [ $i -ge "$2" ] && return 1; sleep 0.1; i=$((i + 1)); done; return 0; }

                mkdir -p /mnt
                mount -t virtiofs %1$s /mnt && ok mount || { bad mount "mount -t virtiofs %1$s /mnt failed"; exit $fails; }
                dev=$(fsdev); fspci=$(basename "$(dirname "$dev")")
                echo "virtiofs on $fspci"

                dd if=/mnt/big of=/dev/null bs=4k 2>/tmp/dd.err &
                ddpid=$!
                i=0; read=0
                while [ $i -lt 1200 ] && kill -0 $ddpid 2>/dev/null; do
                    read=$(awk '/^rchar/ { print $2 }' /proc/$ddpid/io 2>/dev/null)
                    [ "${read:-0}" -ge 8388608 ] && break
                    sleep 0.1; i=$((i + 1))
                done
                if [ "${read:-0}" -ge 8388608 ]; then ok dd-progress; else bad dd-progress "dd read ${read:-0} bytes"; fi
                echo "HOST: kill virtiofsd (dd has read $read bytes)"

                if waitgone $ddpid 1200; then
                    ok dd-ends
                    if wait $ddpid; then bad dd-error "dd succeeded across the kill"; else ok dd-error; fi
                    cat /tmp/dd.err
                else
                    bad dd-ends "dd still runs 120 s after the kill: state $(awk '{ print $3 }' /proc/$ddpid/stat)"
                fi

                ls /mnt >/tmp/ls.out 2>&1 &
                lspid=$!
                if waitgone $lspid 300; then
                    ok ls-returns
                    if wait $lspid; then bad ls-error "ls succeeded: $(cat /tmp/ls.out)"; else ok ls-error; fi
                    cat /tmp/ls.out
                else
                    bad ls-returns "ls /mnt still runs after 30 s"
                fi
                umount /mnt && ok umount || bad umount "umount /mnt failed"

                echo "HOST: start virtiofsd"
                i=0; mounted=0
                while [ $i -lt 60 ] && [ $mounted -eq 0 ]; do
                    echo "$fspci" > /sys/bus/pci/drivers/virtio-pci/unbind
                    echo "$fspci" > /sys/bus/pci/drivers/virtio-pci/bind
                    j=0; while [ -z "$(fsdev)" ] && [ $j -lt 50 ]; do sleep 0.1; j=$((j + 1)); done
                    if [ -n "$(fsdev)" ] && mount -t virtiofs %1$s /mnt 2>/dev/null; then mounted=1; fi
                    i=$((i + 1))
                done
                echo "rebinds: $i"
                [ -n "$(fsdev)" ] && ok rebind || bad rebind "virtiofs not bound after $i rebinds"
                if [ $mounted -eq 1 ]; then
                    ok remount
                    sum=$(sha256sum /mnt/big | cut -d' ' -f1)
                    [ "$sum" = "%2$s" ] && ok reread || bad reread "sha256 $sum"
                    umount /mnt
                else
                    bad remount "no mount after $i rebinds"
                fi
                dmesg | grep -i -E "virtio|fuse" | tail -20
                exit $fails
                """.formatted(TAG, bigSum);
    }
}
