package io.jvmm.tests.racelab;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The differential run's decoding and comparison, on console lines of the shape its guest script
 * prints (the run itself boots a guest: scripts/race-lab-differential, outside the test command).
 */
class DeviceDifferentialTest {
    /** A 256-byte configuration space: vendor:device, status with a capability list, class, and one MSI-X capability at 0x40. */
    private static String config(int device, int classBase, int msixTable) {
        byte[] c = new byte[256];
        c[0] = (byte) 0xf4;
        c[1] = 0x1a;
        c[2] = (byte) device;
        c[3] = (byte) (device >> 8);
        c[6] = 0x10;
        c[8] = 1;
        c[0x0b] = (byte) classBase;
        c[0x34] = 0x40;
        c[0x40] = 0x11;
        c[0x42] = (byte) (msixTable - 1);
        c[0x44] = 1;
        c[0x48] = 0x01 | 0x00;
        c[0x49] = 0x08;
        return java.util.HexFormat.of().formatHex(c);
    }

    @Test
    void decodesTheGuestsLinesAndListsOnlyWhatDiffers() {
        String console = String.join("\n",
                "noise from the kernel",
                "CFG 0000:00:05.0 " + config(0x1042, 0x01, 3),
                "RES 0000:00:05.0 0 0x0000000000001000 0x000000000000107f 0x0000000000040101",
                "RES 0000:00:05.0 1 0x0000000000000000 0x0000000000000000 0x0000000000000000",
                "FEAT 0000:00:05.0 0100000000000000000000000000110010000000000000000000000000000000",
                "REG 0000:00:05.0 device_feature[0] 0x30000002",
                "REG 0000:00:05.0 device_feature[1] 0x00000101",
                "REG 0000:00:05.0 status-after-reset 0x00",
                "DONE 0000:00:05.0",
                "CFG 0000:00:07.0 " + config(0x1042, 0x01, 2),
                "FEAT 0000:00:07.0 0100000000000000000000000000110010000000000000000000000000000000",
                "REG 0000:00:07.0 device_feature[0] 0x30000002",
                "REG 0000:00:07.0 device_feature[1] 0x00000001",
                "REG 0000:00:07.0 status-after-reset 0x00",
                "DONE 0000:00:07.0");
        Map<String, String> qemu = DeviceDifferential.decode(console, "0000:00:05.0");
        Map<String, String> jvmm = DeviceDifferential.decode(console, "0000:00:07.0");
        assertEquals("0x1af4:0x1042", qemu.get("vendor:device"));
        assertEquals("I/O, 128 bytes", qemu.get("BAR0"));
        assertEquals("SIZE_MAX (1) RING_INDIRECT_DESC (28) RING_EVENT_IDX (29) VERSION_1 (32)",
                qemu.get("features negotiated by Linux's driver"), "the driver's bits named as a blk device's");
        assertEquals("offered", qemu.get("offered feature RING_RESET (40)"));
        assertEquals("not offered", jvmm.get("offered feature RING_RESET (40)"));
        assertTrue(qemu.get("capability MSI-X").startsWith("table size 3, table in BAR 1 at 0x0000, PBA in BAR 1 at 0x0800"),
                qemu.get("capability MSI-X"));
        List<String> diff = DeviceDifferential.compare(qemu, jvmm);
        assertEquals(List.of(
                "BAR0: QEMU I/O, 128 bytes, jvmm (absent)",
                "register device_feature[1]: QEMU 0x00000101, jvmm 0x00000001",
                "capability MSI-X: QEMU table size 3, table in BAR 1 at 0x0000, PBA in BAR 1 at 0x0800, control after unbind 0x0000, "
                        + "jvmm table size 2, table in BAR 1 at 0x0000, PBA in BAR 1 at 0x0800, control after unbind 0x0000",
                "offered feature RING_RESET (40): QEMU offered, jvmm not offered"), diff);
    }
}
