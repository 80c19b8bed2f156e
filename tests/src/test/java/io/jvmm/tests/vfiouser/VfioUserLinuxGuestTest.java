package io.jvmm.tests.vfiouser;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jvmm.devices.blk.RawFileBackend;
import io.jvmm.devices.blk.BlkDevice;
import io.jvmm.devices.blk.BlkMetrics;
import io.jvmm.devices.blk.BlkOptions;
import io.jvmm.devices.blk.DriveOptions;
import io.jvmm.devices.rng.RngDevice;
import io.jvmm.emulator.vfiouser.ServedDevice;
import io.jvmm.emulator.vfiouser.VfioUserServer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * jvmm's virtio-blk and virtio-rng, served over vfio-user, driven by the Debian trixie kernel's own
 * drivers in a QEMU 11.1 guest (TCG). One boot runs every check in the guest (each prints a CHECK
 * line, the guest's exit status is the number that failed) and the host then verifies what the
 * guest wrote:
 * <ul>
 *   <li>virtio_blk reads the whole disk and its sha256 equals the host's; it writes 1 MiB whose
 *       sha256 the host finds in the image file;</li>
 *   <li>virtio_rng feeds hw_random (rng_current is virtio_rng.*) and /dev/hwrng reads;</li>
 *   <li>/proc/interrupts shows both devices on PCI-MSIX vectors that fired;</li>
 *   <li>the disk has two request queues (num-queues=2, VIRTIO_BLK_F_MQ): reads on each vCPU complete
 *       on that queue's own vector;</li>
 *   <li>unbinding virtio-pci from each device in sysfs and binding it again resets the device and
 *       re-initialises it: the disk reads back what was written, the rng reads again.</li>
 * </ul>
 */
@Timeout(value = 15, unit = TimeUnit.MINUTES)
class VfioUserLinuxGuestTest {
    private static final int DISK_BYTES = 16 << 20;
    private static final long WRITE_OFFSET = 2 << 20;
    private static final int WRITE_BYTES = 1 << 20;

    @TempDir
    Path share;

    @Test
    void debianDriversUseJvmmDevicesOverVfioUser() throws Exception {
        QemuRig rig = QemuRig.get();
        Path image = share.resolve("disk.img");
        byte[] content = new byte[DISK_BYTES];
        new Random(42).nextBytes(content);
        Files.write(image, content);
        String diskSum = sha256(content, 0, content.length);

        ServedDevice blk = ServedDevice.virtio(new BlkDevice(new BlkOptions("blk0", DriveOptions.raw("d0", image, false), "jvmm-blk", 256, 2), new RawFileBackend("blk0", image, false, 2), BlkMetrics.unregistered("blk0")));
        ServedDevice rng = ServedDevice.virtio(new RngDevice("rng0"));
        VfioUserServer blkServer = VfioUserServer.start(share.resolve("blk.sock"), blk);
        VfioUserServer rngServer = VfioUserServer.start(share.resolve("rng.sock"), rng);
        QemuRig.GuestRun run;
        try {
            List<String> args = new ArrayList<>(QemuRig.vfioUserDevice("blk.sock"));
            args.addAll(QemuRig.vfioUserDevice("rng.sock"));
            run = rig.boot(share, guestScript(diskSum), args, 600);
        } finally {
            blkServer.close();
            rngServer.close();
            blk.close();
            rng.close();
        }
        String console = run.console();
        List<String> failed = console.lines().filter(l -> l.startsWith("CHECK ") && !l.endsWith(" ok")).toList();
        assertTrue(failed.isEmpty(), "checks failed in the guest: " + failed + "\n" + QemuRig.tail(console));
        assertTrue(run.passed(), "the guest's status is the test's: QEMU exited " + run.exitStatus() + "\n" + QemuRig.tail(console));
        for (String check : List.of("disk-sha256", "rng-current", "hwrng-read", "blk-msix", "rng-msix", "blk-mq", "blk-mq-irqs", "blk-unbound",
                "blk-rebound", "blk-reread", "rng-rebound", "rng-reread", "msix-after-rebind")) {
            assertTrue(console.contains("CHECK " + check + " ok"), "check " + check + " did not run\n" + QemuRig.tail(console));
        }

        Matcher written = Pattern.compile("WRITTEN ([0-9a-f]{64})").matcher(console);
        assertTrue(written.find(), "the guest did not report what it wrote\n" + QemuRig.tail(console));
        byte[] after = Files.readAllBytes(image);
        assertEquals(written.group(1), sha256(after, (int) WRITE_OFFSET, WRITE_BYTES),
                "the 1 MiB the guest wrote at 2 MiB is in the image file");
        assertEquals(sha256(content, 0, (int) WRITE_OFFSET), sha256(after, 0, (int) WRITE_OFFSET), "nothing else changed");
        assertEquals(1, blkServer.clientsAccepted(), "QEMU connected once and stayed through the rebind");
        assertTrue(blk.interruptsDelivered() > 0 && rng.interruptsDelivered() > 0, "interrupts reached QEMU's eventfds");
    }

    /** The guest's /jvmm-run: every check prints a CHECK line; the exit status counts failures. */
    private static String guestScript(String diskSum) {
        return """
                #!/bin/sh
                fails=0
                ok() { echo "CHECK $1 ok"; }
                bad() { echo "CHECK $1 FAILED: $2"; fails=$((fails + 1)); }
                msix() { grep PCI-MSIX /proc/interrupts | grep "$1" | awk '{ n += $2 + $3 } END { print n + 0 }'; }

                sum=$(sha256sum /dev/vda | cut -d' ' -f1)
                [ "$sum" = "%s" ] && ok disk-sha256 || bad disk-sha256 "sha256 $sum"
                head -c %d /dev/urandom > /tmp/w
                dd if=/tmp/w of=/dev/vda bs=65536 seek=%d conv=fsync 2>/dev/null || bad blk-write "dd failed"
                echo "WRITTEN $(sha256sum /tmp/w | cut -d' ' -f1)"

                cur=$(cat /sys/class/misc/hw_random/rng_current)
                case "$cur" in virtio_rng.*) ok rng-current ;; *) bad rng-current "$cur" ;; esac
                n=$(head -c 4096 /dev/hwrng | wc -c)
                [ "$n" -eq 4096 ] && ok hwrng-read || bad hwrng-read "$n bytes"

                blkdev=$(readlink -f /sys/block/vda/device)
                blkvirtio=$(basename "$blkdev"); blkpci=$(basename "$(dirname "$blkdev")")
                rngdev=$(readlink -f /sys/bus/virtio/drivers/virtio_rng/virtio*)
                rngvirtio=$(basename "$rngdev"); rngpci=$(basename "$(dirname "$rngdev")")
                echo "blk is $blkvirtio on $blkpci, rng is $rngvirtio on $rngpci"
                grep PCI-MSIX /proc/interrupts
                [ "$(msix "$blkvirtio-req")" -gt 0 ] && ok blk-msix || bad blk-msix "no PCI-MSIX interrupts for $blkvirtio"
                [ "$(msix "$rngvirtio-input")" -gt 0 ] && ok rng-msix || bad rng-msix "no PCI-MSIX interrupts for $rngvirtio"
                # num-queues=2: Linux maps each vCPU to its own request queue, completed on that queue's vector
                nq=$(ls /sys/block/vda/mq | wc -l)
                [ "$nq" -eq 2 ] && ok blk-mq || bad blk-mq "$nq request queues"
                sync; echo 3 > /proc/sys/vm/drop_caches
                taskset -c 0 dd if=/dev/vda of=/dev/null bs=65536 count=16 2>/dev/null || bad blk-mq-read "dd on vCPU 0 failed"
                taskset -c 1 dd if=/dev/vda of=/dev/null bs=65536 skip=64 count=16 2>/dev/null || bad blk-mq-read "dd on vCPU 1 failed"
                q0=$(msix "$blkvirtio-req.0"); q1=$(msix "$blkvirtio-req.1")
                [ "$q0" -gt 0 ] && [ "$q1" -gt 0 ] && ok blk-mq-irqs || bad blk-mq-irqs "interrupts of req.0 $q0, req.1 $q1"

                echo "$blkpci" > /sys/bus/pci/drivers/virtio-pci/unbind
                [ ! -e /sys/block/vda ] && ok blk-unbound || bad blk-unbound "vda still there"
                echo "$blkpci" > /sys/bus/pci/drivers/virtio-pci/bind
                i=0; while [ ! -b /dev/vda ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
                [ -b /dev/vda ] && ok blk-rebound || bad blk-rebound "no /dev/vda after bind"
                again=$(dd if=/dev/vda bs=65536 skip=%d count=%d 2>/dev/null | sha256sum | cut -d' ' -f1)
                [ "$again" = "$(sha256sum /tmp/w | cut -d' ' -f1)" ] && ok blk-reread || bad blk-reread "read back $again"

                echo "$rngpci" > /sys/bus/pci/drivers/virtio-pci/unbind
                echo "$rngpci" > /sys/bus/pci/drivers/virtio-pci/bind
                cur=$(cat /sys/class/misc/hw_random/rng_current)
                case "$cur" in virtio_rng.*) ok rng-rebound ;; *) bad rng-rebound "rng_current is $cur" ;; esac
                n=$(head -c 4096 /dev/hwrng | wc -c)
                [ "$n" -eq 4096 ] && ok rng-reread || bad rng-reread "$n bytes"
                grep PCI-MSIX /proc/interrupts
                newblk=$(basename "$(readlink -f /sys/block/vda/device)")
                [ "$(msix "$newblk-req")" -gt 0 ] && ok msix-after-rebind || bad msix-after-rebind "no PCI-MSIX interrupts for $newblk"
                exit $fails
                """.formatted(diskSum, WRITE_BYTES, WRITE_OFFSET / 65536, WRITE_OFFSET / 65536, WRITE_BYTES / 65536);
    }

    private static String sha256(byte[] data, int offset, int length) throws Exception {
        MessageDigest d = MessageDigest.getInstance("SHA-256");
        d.update(data, offset, length);
        return HexFormat.of().formatHex(d.digest());
    }
}
