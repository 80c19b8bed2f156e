package io.jvmm.tests.vfiouser;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jvmm.emulator.vfiouser.DeviceServer;
import io.jvmm.platform.assembly.MachineAssembly;
import io.jvmm.platform.config.ConfigParser;
import io.jvmm.platform.config.MachineConfig;
import io.jvmm.platform.registry.BackendKind;
import io.jvmm.platform.registry.Registry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * virtio-9p end to end with a real client: the Debian trixie kernel's 9p file system
 * (9pnet_virtio) in QEMU 11.1 under TCG, mounting jvmm's virtio-9p-pci served over vfio-user with
 * the in-process server on a host directory. One boot; each check prints a CHECK line:
 * mount with msize=512000; sha256 of a 256 MiB file; 2,000 files created and stat'ed; a 10,000-entry
 * directory listed; rename, unlink, symlink, hard link, chmod, truncate, xattr; open-unlink-fstat;
 * escapes through ".." and symlinks find nothing of the host's; and flush under fire: readers of
 * a second, slowed export killed with SIGKILL mid-read 100 times, after which the mount still works,
 * the server holds no tag, the device no ring slot, and the server counted the flushes.
 */
@Timeout(value = 60, unit = TimeUnit.MINUTES)
class VfioUserP9LinuxGuestTest {
    /**
     * The file whose sha256 is checked: 32 MiB in the test command (the Linux 6.12 client reads
     * it in 4 KiB Treads, ~2 ms each under TCG here), 256 MiB from scripts/p9-linux-guest
     * (-Djvmm.p9.bigMiB=256).
     */
    private static final int BIG_BYTES = Integer.getInteger("jvmm.p9.bigMiB", 32) << 20;
    /** Readers killed: 100 in the test command; scripts/p9-linux-guest asks for more (-Djvmm.p9.kills=N). */
    private static final int KILLS = Integer.getInteger("jvmm.p9.kills", 100);

    @TempDir
    Path dir;

    @Test
    void debiansNinePClientMountsJvmmVirtio9pOverVfioUser() throws Exception {
        QemuRig rig = QemuRig.get();
        Path load = QemuRig.repoRoot().resolve("tests/guest/build/jvmm-load");
        assertTrue(Files.isExecutable(load), load + " is missing: the tests module's build makes it (make -C tests/guest)");
        Path share = Files.createDirectories(dir.resolve("rig"));
        Path export = Files.createDirectories(dir.resolve("export"));
        Path slow = Files.createDirectories(dir.resolve("slow"));
        String bigSum = VfioUserVirtioFsLinuxGuestTest.writeRandomFile(export.resolve("big"), BIG_BYTES, 9);
        VfioUserVirtioFsLinuxGuestTest.writeRandomFile(slow.resolve("stream"), 8 << 20, 10);
        Files.writeString(slow.resolve("small"), "still here");
        Path tenk = Files.createDirectory(export.resolve("tenk"));
        for (int i = 0; i < 10_000; i++) {
            Files.createFile(tenk.resolve("e" + i));
        }
        Files.createDirectory(export.resolve("many"));
        Files.writeString(dir.resolve("secret"), "HOSTSECRET");
        Files.createSymbolicLink(export.resolve("rel"), Path.of("../secret"));
        Files.createSymbolicLink(export.resolve("abs"), dir.resolve("secret"));

        Map<BackendKind, List<String>> backends = new EnumMap<>(BackendKind.class);
        backends.put(BackendKind.FSDEV, List.of(
                "local,id=fs0,path=" + export + ",security_model=passthrough",
                "local,id=fs1,path=" + slow + ",security_model=passthrough,x-delay-ms=100"));
        MachineConfig config = ConfigParser.parseDevicesOnly(Registry.load(), ConfigParser.RawOptions.devicesOnly(backends, List.of(
                "virtio-9p-pci,id=p9,fsdev=fs0,mount_tag=hostshare",
                "virtio-9p-pci,id=p9slow,fsdev=fs1,mount_tag=slowshare")));
        SimpleMeterRegistry meters = new SimpleMeterRegistry();
        Map<String, Path> sockets = new LinkedHashMap<>();
        sockets.put("p9", share.resolve("p9.sock"));
        sockets.put("p9slow", share.resolve("p9slow.sock"));
        QemuRig.GuestRun run;
        try (DeviceServer server = new DeviceServer(sockets, meters)) {
            MachineAssembly.assemble(config.devices(), server);
            List<String> qemu = new java.util.ArrayList<>(QemuRig.vfioUserDevice("p9.sock"));
            qemu.addAll(QemuRig.vfioUserDevice("p9slow.sock"));
            run = rig.boot(share, guestScript(bigSum), Map.of("bin/jvmm-load", Files.readAllBytes(load)), qemu, 900 + 2L * KILLS);

            String console = run.console();
            String context = "\n" + QemuRig.tail(console);
            List<String> failed = console.lines().filter(l -> l.startsWith("CHECK ") && !l.endsWith(" ok")).toList();
            assertTrue(failed.isEmpty(), "checks failed in the guest: " + failed + context);
            assertTrue(run.passed(), "the guest's status is the test's: QEMU exited " + run.exitStatus() + context);
            for (String check : List.of("mount", "msize", "big-sha256", "create-stat", "list-10000", "rename", "unlink", "symlink",
                    "link", "chmod", "truncate", "xattr", "open-unlink-fstat", "escapes", "slow-mount", "kills", "after-kills")) {
                assertTrue(console.contains("CHECK " + check + " ok"), "check " + check + " did not run" + context);
            }
            // What the host sees of the guest's changes.
            try (var files = Files.list(export.resolve("many"))) {
                assertEquals(2000, files.count(), "the guest's 2,000 files are on the host");
            }
            assertEquals("rw-r-----", PosixFilePermissions.toString(Files.getPosixFilePermissions(export.resolve("h1"))));
            assertEquals(3, Files.size(export.resolve("h1")));
            assertEquals("hello", new String((byte[]) Files.getAttribute(export.resolve("h1"), "user:test")));
            assertEquals("target", Files.readSymbolicLink(export.resolve("sl")).toString());
            assertFalse(Files.exists(export.resolve("r1"), LinkOption.NOFOLLOW_LINKS));
            // Flush under fire, as the host saw it: nothing held, flushes really happened.
            assertEquals(0.0, meters.get("jvmm.p9.outstanding.tags").tag("server", "p9slow").gauge().value(), "tags held");
            assertEquals(0.0, meters.get("jvmm.p9.ring.slots").tag("device", "p9slow").gauge().value(), "ring slots held");
            double flushes = meters.get("jvmm.p9.flushes").tag("server", "p9slow").counter().count();
            Matcher kills = Pattern.compile("KILLED (\\d+)").matcher(console);
            assertTrue(kills.find(), context);
            console.lines().filter(l -> l.startsWith("TIME ")).forEach(System.out::println);
            System.out.printf("flush under fire: %s readers killed, %.0f Tflush, %.0f requests cancelled before they started%n",
                    kills.group(1), flushes, meters.get("jvmm.p9.flush.cancelled").tag("server", "p9slow").counter().count());
            assertTrue(flushes >= KILLS / 4.0, "the server saw " + flushes + " Tflush for " + KILLS + " killed readers");
            assertEquals(0.0, meters.get("jvmm.p9.ring.slots").tag("device", "p9").gauge().value());
        }
    }

    /** The guest's /jvmm-run: every check prints a CHECK line; the exit status counts failures. */
    private static String guestScript(String bigSum) {
        return """
                #!/bin/sh
                fails=0
                ok() { echo "CHECK $1 ok"; echo "TIME $1 $(cut -d' ' -f1 /proc/uptime)"; }
                bad() { echo "CHECK $1 FAILED: $2"; fails=$((fails + 1)); }
                opts=trans=virtio,version=9p2000.L,msize=512000

                mkdir -p /mnt /slow
                if ! mount -t 9p -o $opts hostshare /mnt; then
                    bad mount "mount -t 9p hostshare failed"
                    dmesg | tail -20
                    exit $fails
                fi
                ok mount
                grep ' /mnt 9p ' /proc/mounts | grep -q msize=512000 && ok msize || bad msize "$(grep ' /mnt ' /proc/mounts)"
                sum=$(sha256sum /mnt/big | cut -d' ' -f1)
                [ "$sum" = "%1$s" ] && ok big-sha256 || bad big-sha256 "sha256 $sum"
                jvmm-load create /mnt/many 2000 && ok create-stat || bad create-stat "jvmm-load create"
                n=$(jvmm-load count /mnt/tenk)
                [ "$n" -eq 10000 ] && ok list-10000 || bad list-10000 "$n entries"
                echo one > /mnt/r1 && mv /mnt/r1 /mnt/r2 && [ ! -e /mnt/r1 ] && [ "$(cat /mnt/r2)" = one ] && ok rename || bad rename "mv"
                rm /mnt/r2 && [ ! -e /mnt/r2 ] && ok unlink || bad unlink "rm"
                ln -s target /mnt/sl && [ "$(readlink /mnt/sl)" = target ] && ok symlink || bad symlink "$(readlink /mnt/sl)"
                echo hardlink > /mnt/h1 && ln /mnt/h1 /mnt/h2 && [ "$(stat -c %%h /mnt/h1)" = 2 ] && ok link || bad link "$(stat -c %%h /mnt/h1)"
                chmod 640 /mnt/h1 && [ "$(stat -c %%a /mnt/h1)" = 640 ] && ok chmod || bad chmod "$(stat -c %%a /mnt/h1)"
                truncate -s 3 /mnt/h1 && [ "$(stat -c %%s /mnt/h1)" = 3 ] && ok truncate || bad truncate "$(stat -c %%s /mnt/h1)"
                jvmm-load setxattr /mnt/h1 user.test hello && [ "$(jvmm-load getxattr /mnt/h1 user.test)" = hello ] \\
                    && ok xattr || bad xattr "$(jvmm-load getxattr /mnt/h1 user.test 2>&1)"
                jvmm-load unlinked /mnt/ou && ok open-unlink-fstat || bad open-unlink-fstat "jvmm-load unlinked"
                leak=$( (cat /mnt/rel /mnt/abs /mnt/../secret /mnt/tenk/../../secret; ls /mnt/..) 2>/dev/null | grep -c HOSTSECRET)
                [ "$leak" -eq 0 ] && ok escapes || bad escapes "HOSTSECRET read $leak times"

                if mount -t 9p -o $opts slowshare /slow; then ok slow-mount; else bad slow-mount "mount slowshare"; fi
                killed=0
                i=0
                while [ $i -lt %2$d ]; do
                    cat /slow/stream > /dev/null &
                    pid=$!
                    usleep 50000
                    kill -9 $pid 2>/dev/null && killed=$((killed + 1))
                    wait $pid 2>/dev/null
                    i=$((i + 1))
                done
                echo "KILLED $killed"
                [ $killed -gt 0 ] && ok kills || bad kills "no reader was killed"
                [ "$(cat /slow/small)" = "still here" ] && ls /slow > /dev/null && ok after-kills || bad after-kills "the mount stopped working"
                umount /slow
                umount /mnt
                exit $fails
                """.formatted(bigSum, KILLS);
    }
}
