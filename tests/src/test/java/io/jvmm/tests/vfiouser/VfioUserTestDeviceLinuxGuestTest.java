package io.jvmm.tests.vfiouser;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jvmm.emulator.vfiouser.DeviceServer;
import io.jvmm.emulator.vfiouser.ServedDevice;
import io.jvmm.platform.assembly.MachineAssembly;
import io.jvmm.platform.config.ConfigParser;
import io.jvmm.platform.config.MachineConfig;
import io.jvmm.platform.registry.Registry;
import io.jvmm.testkit.testdev.TestPciDevice;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The test kit's non-virtio device ({@code -device jvmm-testdev}), assembled into the vfio-user
 * server like any device, under the Debian kernel of the QEMU 11.1 rig: QEMU mmaps BAR2 (its
 * region info carries the memory's fd), so the guest's busybox {@code devmem} reads what the host
 * wrote and the host reads what the guest wrote, without one REGION_READ/WRITE for BAR2; the
 * doorbell register (trapped over vfio-user, an I/O event) reaches the device's eventfd.
 */
@Timeout(value = 15, unit = TimeUnit.MINUTES)
class VfioUserTestDeviceLinuxGuestTest {
    private static final int HOST_WORDS = 16;
    private static final int GUEST_WORDS = 256;
    private static final int GUEST_OFFSET = 65536;
    private static final int DOORBELLS = 10;

    @TempDir
    Path share;

    @Test
    void theGuestMapsTheRamBarAndRingsTheDoorbell() throws Exception {
        QemuRig rig = QemuRig.get();
        MachineConfig config = ConfigParser.parseDevicesOnly(Registry.load(),
                ConfigParser.RawOptions.devicesOnly(Map.of(), List.of("jvmm-testdev,id=t0,size=1M")));
        QemuRig.GuestRun run;
        long bar2Accesses;
        long bar0Accesses;
        ByteBuffer after;
        TestPciDevice device;
        try (DeviceServer server = new DeviceServer(Map.of("t0", share.resolve("t0.sock")), null)) {
            MachineAssembly.assemble(config.devices(), server);
            ServedDevice served = server.devices().get(0);
            device = (TestPciDevice) served.pci();
            ByteBuffer ram = device.ram().slice(0, 1 << 20);
            for (int i = 0; i < HOST_WORDS; i++) {
                ram.putInt(4096 * i, 0xC0DE0000 + i);
            }
            run = rig.boot(share, guestScript(), QemuRig.vfioUserDevice("t0.sock"), 600);
            assertTrue(device.awaitDoorbells(DOORBELLS, Duration.ofSeconds(30)), "the guest's doorbells reached the device's eventfd: "
                    + device.doorbells() + "\n" + QemuRig.tail(run.console()));
            bar2Accesses = served.regionAccesses(TestPciDevice.RAM_BAR);
            bar0Accesses = served.regionAccesses(TestPciDevice.REGISTER_BAR);
            after = ByteBuffer.allocate(GUEST_WORDS * 4).order(java.nio.ByteOrder.LITTLE_ENDIAN);
            after.put(device.ram().slice(GUEST_OFFSET, GUEST_WORDS * 4)).flip();
        }
        String console = run.console();
        List<String> failed = console.lines().filter(l -> l.startsWith("CHECK ") && !l.endsWith(" ok")).toList();
        assertTrue(failed.isEmpty(), "checks failed in the guest: " + failed + "\n" + QemuRig.tail(console));
        assertTrue(run.passed(), "the guest's status is the test's: QEMU exited " + run.exitStatus() + "\n" + QemuRig.tail(console));
        for (String check : List.of("found", "magic", "host-pattern", "guest-readback", "doorbell-count")) {
            assertTrue(console.contains("CHECK " + check + " ok"), "check " + check + " did not run\n" + QemuRig.tail(console));
        }
        for (int i = 0; i < GUEST_WORDS; i++) {
            assertEquals(0xA5000000 + i, after.getInt(4 * i), "guest word " + i + " is in the host's memory");
        }
        assertEquals(DOORBELLS, device.doorbells());
        assertEquals(0, bar2Accesses, "BAR2 is mapped by the client: none of the guest's "
                + (HOST_WORDS + 2 * GUEST_WORDS) + " accesses crossed the socket");
        assertTrue(bar0Accesses >= DOORBELLS + 2, "the registers are trapped: " + bar0Accesses + " REGION_READ/WRITE");
        System.out.println("jvmm-testdev over vfio-user: " + (HOST_WORDS + 2 * GUEST_WORDS) + " guest accesses to BAR2, "
                + bar2Accesses + " REGION_READ/WRITE for BAR2, " + bar0Accesses + " for BAR0");
    }

    /** The guest's /jvmm-run: finds the device, enables it, and works BAR0 and BAR2 with devmem. */
    private static String guestScript() {
        return """
                #!/bin/sh
                fails=0
                ok() { echo "CHECK $1 ok"; }
                bad() { echo "CHECK $1 FAILED: $2"; fails=$((fails + 1)); }
                dev=""
                for d in /sys/bus/pci/devices/*; do
                    [ "$(cat "$d/vendor")" = "0x1af4" ] && [ "$(cat "$d/device")" = "0x10fe" ] && dev=$d
                done
                [ -n "$dev" ] && ok found || { bad found "no 1af4:10fe device"; exit 1; }
                echo 1 > "$dev/enable"
                bar0=$(sed -n 1p "$dev/resource" | cut -d' ' -f1)
                bar2=$(sed -n 3p "$dev/resource" | cut -d' ' -f1)
                echo "jvmm-testdev at $dev: BAR0 $bar0, BAR2 $bar2"
                magic=$(devmem "$bar0" 32)
                [ "$magic" = "0x544D564A" ] && ok magic || bad magic "read $magic"

                wrong=0; i=0
                while [ $i -lt %1$d ]; do
                    v=$(devmem $((bar2 + 4096 * i)) 32)
                    [ "$v" = "$(printf '0x%%08X' $((0xC0DE0000 + i)))" ] || { wrong=$((wrong + 1)); echo "word $i: $v"; }
                    i=$((i + 1))
                done
                [ $wrong -eq 0 ] && ok host-pattern || bad host-pattern "$wrong of %1$d words differ"

                i=0
                while [ $i -lt %2$d ]; do
                    devmem $((bar2 + %3$d + 4 * i)) 32 $((0xA5000000 + i))
                    i=$((i + 1))
                done
                wrong=0; i=0
                while [ $i -lt %2$d ]; do
                    v=$(devmem $((bar2 + %3$d + 4 * i)) 32)
                    [ "$v" = "$(printf '0x%%08X' $((0xA5000000 + i)))" ] || wrong=$((wrong + 1))
                    i=$((i + 1))
                done
                [ $wrong -eq 0 ] && ok guest-readback || bad guest-readback "$wrong of %2$d words differ"

                i=0
                while [ $i -lt %4$d ]; do
                    devmem $((bar0 + 4)) 32 $i
                    i=$((i + 1))
                done
                n=0; tries=0
                while [ $tries -lt 100 ]; do
                    n=$(($(devmem $((bar0 + 8)) 32)))
                    [ "$n" -ge %4$d ] && break
                    sleep 0.1; tries=$((tries + 1))
                done
                [ "$n" -eq %4$d ] && ok doorbell-count || bad doorbell-count "the device counted $n doorbells"
                exit $fails
                """.formatted(HOST_WORDS, GUEST_WORDS, GUEST_OFFSET, DOORBELLS);
    }
}
