package io.jvmm.tests.ivshmem;

import static org.junit.jupiter.api.Assertions.*;

import io.jvmm.devices.ivshmem.IvshmemDevice;
import io.jvmm.emulator.vfiouser.DeviceServer;
import io.jvmm.emulator.vfiouser.ServedDevice;
import io.jvmm.platform.assembly.MachineAssembly;
import io.jvmm.platform.config.ConfigParser;
import io.jvmm.platform.config.MachineConfig;
import io.jvmm.platform.registry.BackendKind;
import io.jvmm.platform.registry.Registry;
import io.jvmm.tests.vfiouser.QemuRig;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * jvmm's ivshmem-plain served over vfio-user to QEMU 11.1 (the rig), under Debian's kernel: QEMU
 * mmaps BAR2 (the memory back-end's fd travels in the region info), so the guest's busybox devmem
 * at BAR2's address reads what the host wrote into the memory and the host reads what the guest
 * wrote, with no REGION_READ/WRITE for BAR2; BAR0 is QEMU's register layout (256 bytes, IVPosition 0).
 */
@Timeout(value = 15, unit = TimeUnit.MINUTES)
class VfioUserIvshmemLinuxGuestTest {
    private static final int HOST_WORDS = 16;
    private static final int GUEST_WORDS = 64;
    private static final int GUEST_OFFSET = 0x20000;

    @TempDir
    Path share;

    @Test
    void theGuestReadsAndWritesTheSharedMemoryThroughBar2() throws Exception {
        QemuRig rig = QemuRig.get();
        MachineConfig config = ConfigParser.parseDevicesOnly(Registry.load(), ConfigParser.RawOptions.devicesOnly(
                Map.of(BackendKind.OBJECT, List.of("memory-backend-memfd,id=m0,size=1M,share=on")),
                List.of("ivshmem-plain,id=iv0,memdev=m0")));
        QemuRig.GuestRun run;
        long bar2Accesses;
        ByteBuffer after = ByteBuffer.allocate(GUEST_WORDS * 4).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        try (DeviceServer server = new DeviceServer(Map.of("iv0", share.resolve("iv0.sock")), null)) {
            MachineAssembly.assemble(config.devices(), server);
            ServedDevice served = server.devices().get(0);
            IvshmemDevice device = (IvshmemDevice) served.pci();
            ByteBuffer memory = device.memory().slice(0, 1 << 20);
            for (int i = 0; i < HOST_WORDS; i++) {
                memory.putInt(4096 * i, 0x5EED0000 + i);
            }
            run = rig.boot(share, guestScript(), QemuRig.vfioUserDevice("iv0.sock"), 600);
            bar2Accesses = served.regionAccesses(IvshmemDevice.MEMORY_BAR);
            after.put(device.memory().slice(GUEST_OFFSET, GUEST_WORDS * 4)).flip();
        }
        String console = run.console();
        QemuRig.assertChecks(console, List.of("found", "registers", "host-bytes"));
        assertTrue(run.passed(), "the guest's status is the test's: QEMU exited " + run.exitStatus() + "\n" + QemuRig.tail(console));
        for (int i = 0; i < GUEST_WORDS; i++) {
            assertEquals(0x6E570000 + i, after.getInt(4 * i), "the guest's word " + i + " is in the host's memory");
        }
        assertEquals(0, bar2Accesses, "BAR2 is mapped by QEMU: no access crossed the socket");
    }

    private static String guestScript() {
        return QemuRig.checkingScript("0x1af4", "0x1110") + """
                set -- $(sed -n 1p "$dev/resource")
                bar0=$1; bar0size=$(($2 - $1 + 1))
                bar2=$(sed -n 3p "$dev/resource" | cut -d' ' -f1)
                pos=$(devmem $((bar0 + 8)) 32)
                [ "$bar0size" -eq 256 ] && [ "$pos" = "0x00000000" ] && [ "$(cat "$dev/class")" = "0x050000" ] && ok registers \
                    || bad registers "BAR0 $bar0size bytes, IVPosition $pos, class $(cat "$dev/class")"
                wrong=0; i=0
                while [ $i -lt %1$d ]; do
                    v=$(devmem $((bar2 + 4096 * i)) 32)
                    [ "$v" = "$(printf '0x%%08X' $((0x5EED0000 + i)))" ] || { wrong=$((wrong + 1)); echo "word $i: $v"; }
                    i=$((i + 1))
                done
                [ $wrong -eq 0 ] && ok host-bytes || bad host-bytes "$wrong of %1$d words differ"
                i=0
                while [ $i -lt %2$d ]; do
                    devmem $((bar2 + %3$d + 4 * i)) 32 $((0x6E570000 + i))
                    i=$((i + 1))
                done
                exit $fails
                """.formatted(HOST_WORDS, GUEST_WORDS, GUEST_OFFSET);
    }
}
