package io.jvmm.emulator.kvm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import org.junit.jupiter.api.Test;

/** The routing table jvmm hands to KVM_SET_GSI_ROUTING, checked without KVM. */
class GsiRoutingTest {

    @Test
    void tableAlwaysKeepsKvmsDefaultLegacyRoutes() {
        GsiRouting r = new GsiRouting();
        ByteBuffer b = r.encode().buffer();
        assertEquals(40, b.getInt(0), "16 PIC + 24 IOAPIC entries");
        assertEquals(8 + 40 * 48, b.capacity());
        // GSI 4 (the serial port): PIC master pin 4 and IOAPIC pin 4.
        int picEntry = 8 + 48 * 8;   // GSIs 0-3 have two entries each
        assertEquals(4, b.getInt(picEntry));
        assertEquals(GsiRouting.TYPE_IRQCHIP, b.getInt(picEntry + 4));
        assertEquals(GsiRouting.IRQCHIP_PIC_MASTER, b.getInt(picEntry + 16));
        assertEquals(4, b.getInt(picEntry + 20));
        assertEquals(4, b.getInt(picEntry + 48));
        assertEquals(GsiRouting.IRQCHIP_IOAPIC, b.getInt(picEntry + 48 + 16));
        assertEquals(4, b.getInt(picEntry + 48 + 20));
        // GSI 10: the slave PIC's pin 2.
        int slave = 8 + 48 * 20;
        assertEquals(10, b.getInt(slave));
        assertEquals(GsiRouting.IRQCHIP_PIC_SLAVE, b.getInt(slave + 16));
        assertEquals(2, b.getInt(slave + 20));
        // The last legacy entry: GSI 23, IOAPIC only.
        int last = 8 + 48 * 39;
        assertEquals(23, b.getInt(last));
        assertEquals(GsiRouting.IRQCHIP_IOAPIC, b.getInt(last + 16));
    }

    @Test
    void msiRoutesAreAppendedWithSplitAddress() {
        GsiRouting r = new GsiRouting();
        int gsi = r.allocate();
        assertNull(r.setMsi(gsi, 0x1_FEE0_1000L, 0x4041));
        ByteBuffer b = r.encode().buffer();
        assertEquals(41, b.getInt(0));
        int at = 8 + 48 * 40;
        assertEquals(gsi, b.getInt(at));
        assertEquals(GsiRouting.TYPE_MSI, b.getInt(at + 4));
        assertEquals(0xFEE01000, b.getInt(at + 16), "address_lo");
        assertEquals(1, b.getInt(at + 20), "address_hi");
        assertEquals(0x4041, b.getInt(at + 24));

        GsiRouting.MsiRoute old = r.setMsi(gsi, 0xFEE00000L, 0x30);
        assertEquals(new GsiRouting.MsiRoute(0x1_FEE0_1000L, 0x4041), old);
        r.restore(gsi, old);
        assertEquals(old, r.msiRoute(gsi), "restore undoes a change KVM refused");
        assertEquals(old, r.removeMsi(gsi));
        assertEquals(40, r.entryCount());
    }

    @Test
    void allocationStartsAbovePinsReusesReleasedAndStopsAtKvmsLimit() {
        GsiRouting r = new GsiRouting();
        assertEquals(24, r.allocate());
        assertEquals(25, r.allocate());
        assertEquals(26, r.allocate());
        r.release(25);
        assertEquals(25, r.allocate(), "lowest free first");
        assertThrows(IllegalArgumentException.class, () -> r.release(3), "IOAPIC pins are not allocated GSIs");
        assertThrows(IllegalArgumentException.class, () -> r.setMsi(27, 0xFEE00000L, 0), "not allocated");

        // KVM_MAX_IRQ_ROUTES bounds the whole table: 4096 - 40 legacy entries.
        int allocated = 3;
        while (allocated < GsiRouting.MAX_ROUTES - GsiRouting.LEGACY_ENTRIES) {
            r.allocate();
            allocated++;
        }
        IllegalStateException full = assertThrows(IllegalStateException.class, r::allocate);
        assertTrue(full.getMessage().startsWith("no free GSI"), full.getMessage());
    }
}
