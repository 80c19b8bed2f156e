package io.jvmm.emulator.boot;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class MpTableTest {
    private static final long BASE = MemoryLayout.MP_TABLE_ADDR;

    private static int sum(byte[] b, int from, int length) {
        int s = 0;
        for (int i = from; i < from + length; i++) {
            s += b[i];
        }
        return s & 0xFF;
    }

    /** Finds "_MP_" on a 16-byte boundary, as a guest scanning the BIOS area does. */
    private static int findFloating(byte[] area) {
        for (int i = 0; i + 16 <= area.length; i += 16) {
            if (new String(area, i, 4, StandardCharsets.US_ASCII).equals("_MP_")) {
                return i;
            }
        }
        return -1;
    }

    @Test
    void floatingPointerAndConfigTableHaveValidChecksums() {
        byte[] t = MpTable.build(2, BASE);
        int fp = findFloating(t);
        assertEquals(0, fp);
        ByteBuffer b = ByteBuffer.wrap(t).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(0, sum(t, 0, 16), "floating pointer checksum");
        assertEquals(1, t[8], "length in paragraphs");
        assertEquals(4, t[9], "spec 1.4");
        assertEquals(0, t[11], "feature1: a configuration table is present");
        long config = Integer.toUnsignedLong(b.getInt(4));
        assertEquals(BASE + 16, config);
        int c = (int) (config - BASE);
        assertEquals("PCMP", new String(t, c, 4, StandardCharsets.US_ASCII));
        int length = Short.toUnsignedInt(b.getShort(c + 4));
        assertEquals(t.length - 16, length);
        assertEquals(0, sum(t, c, length), "configuration table checksum");
        assertEquals(MemoryLayout.LAPIC_BASE, Integer.toUnsignedLong(b.getInt(c + 36)));
    }

    @Test
    void checksumsHoldForEveryCpuCount() {
        for (int cpus = 1; cpus <= MemoryLayout.MAX_CPUS; cpus++) {
            byte[] t = MpTable.build(cpus, BASE);
            assertEquals(0, sum(t, 0, 16));
            assertEquals(0, sum(t, 16, t.length - 16), "cpus=" + cpus);
        }
    }

    @Test
    void entriesDescribeCpusBusIoapicAndInterrupts() {
        int cpus = 3;
        byte[] t = MpTable.build(cpus, BASE);
        ByteBuffer b = ByteBuffer.wrap(t).order(ByteOrder.LITTLE_ENDIAN);
        int c = 16;
        int count = Short.toUnsignedInt(b.getShort(c + 34));
        int at = c + MpTable.HEADER_SIZE;
        List<int[]> processors = new ArrayList<>();
        Map<Integer, Integer> irqToPin = new HashMap<>();
        List<int[]> lints = new ArrayList<>();
        int ioapicId = -1;
        long ioapicAddress = -1;
        String bus = null;
        for (int i = 0; i < count; i++) {
            int type = t[at];
            switch (type) {
                case MpTable.TYPE_PROCESSOR:
                    processors.add(new int[] {t[at + 1], t[at + 3]});
                    at += 20;
                    break;
                case MpTable.TYPE_BUS:
                    bus = new String(t, at + 2, 6, StandardCharsets.US_ASCII).trim();
                    at += 8;
                    break;
                case MpTable.TYPE_IOAPIC:
                    ioapicId = t[at + 1];
                    assertEquals(1, t[at + 3], "IOAPIC usable");
                    ioapicAddress = Integer.toUnsignedLong(b.getInt(at + 4));
                    at += 8;
                    break;
                case MpTable.TYPE_IO_INTERRUPT:
                    assertEquals(MpTable.INT_TYPE_INT, t[at + 1]);
                    assertEquals(0, t[at + 4], "source bus ISA");
                    assertEquals(cpus, t[at + 6], "destination IOAPIC");
                    irqToPin.put((int) t[at + 5], (int) t[at + 7]);
                    at += 8;
                    break;
                case MpTable.TYPE_LOCAL_INTERRUPT:
                    lints.add(new int[] {t[at + 1], t[at + 6] & 0xFF, t[at + 7]});
                    at += 8;
                    break;
                default:
                    throw new AssertionError("unexpected entry type " + type + " at " + at);
            }
        }
        assertEquals(t.length, at, "entry count matches the table length");
        assertEquals(3, processors.size());
        for (int i = 0; i < cpus; i++) {
            assertEquals(i, processors.get(i)[0], "APIC id");
            assertEquals(i == 0 ? 3 : 1, processors.get(i)[1], "enabled, BSP flag only on vCPU 0");
        }
        assertEquals("ISA", bus);
        assertEquals(cpus, ioapicId);
        assertEquals(MemoryLayout.IOAPIC_BASE, ioapicAddress);
        assertEquals(15, irqToPin.size());
        assertEquals(2, irqToPin.get(0), "IRQ0 -> pin 2");
        for (int irq = 1; irq < 16; irq++) {
            if (irq != 2) {
                assertEquals(irq, irqToPin.get(irq), "IRQ " + irq);
            }
        }
        assertEquals(2, lints.size());
        assertEquals(List.of(MpTable.INT_TYPE_EXTINT, 0xFF, 0), List.of(lints.get(0)[0], lints.get(0)[1], lints.get(0)[2]));
        assertEquals(List.of(MpTable.INT_TYPE_NMI, 0xFF, 1), List.of(lints.get(1)[0], lints.get(1)[1], lints.get(1)[2]));
    }

    @Test
    void badArgumentsAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> MpTable.build(0, BASE));
        assertThrows(IllegalArgumentException.class, () -> MpTable.build(255, BASE));
        assertThrows(IllegalArgumentException.class, () -> MpTable.build(1, BASE + 4));
    }
}
