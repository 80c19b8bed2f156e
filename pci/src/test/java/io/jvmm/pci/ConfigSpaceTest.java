package io.jvmm.pci;

import static org.junit.jupiter.api.Assertions.*;

import java.util.List;
import org.junit.jupiter.api.Test;

class ConfigSpaceTest {

    private final ConfigSpace cs = new ConfigSpace("dev0");

    @Test
    void littleEndianDevicePath() {
        cs.set32(0x40, 0x1234_5678);
        assertEquals(0x78, cs.get8(0x40));
        assertEquals(0x1234, cs.get16(0x42));
        assertEquals(0x5678, cs.read(0x40, 2));
        assertEquals(0x0034_5678 >>> 8, cs.read(0x41, 2) & 0xFFFF);
    }

    @Test
    void readOnlyByDefault() {
        cs.set32(0x40, 0xCAFE_BABE);
        cs.write(0x40, 4, 0);
        assertEquals(0xCAFE_BABE, cs.get32(0x40));
    }

    @Test
    void onlyWritableBitsTakeTheGuestValue() {
        cs.set16(0x44, 0x00F0);
        cs.setWritableBits(0x44, 2, 0x0F0F);
        cs.write(0x44, 2, 0xFFFF);
        assertEquals(0x0FFF, cs.get16(0x44), "writable bits set, read-only bits keep 0x00F0");
        cs.write(0x44, 2, 0x0000);
        assertEquals(0x00F0, cs.get16(0x44));
        cs.setWritable(0x48, 2);
        cs.write(0x48, 4, 0xAABB_CCDD);
        assertEquals(0x0000_CCDD, cs.get32(0x48), "only the two writable bytes change");
        assertEquals(0x0F0F, cs.writableBits(0x44, 2));
    }

    @Test
    void writeOneToClearBits() {
        cs.setW1cBits(0x50, 2, 0xF000);
        cs.set16(0x50, 0xF00F);
        cs.write(0x50, 2, 0x5000);
        assertEquals(0xA00F, cs.get16(0x50), "written ones clear, zeros leave, read-only bits stay");
        cs.write(0x50, 2, 0x0FFF);
        assertEquals(0xA00F, cs.get16(0x50), "writing ones to non-W1C read-only bits changes nothing");
        cs.write(0x51, 1, 0xA0);
        assertEquals(0x000F, cs.get16(0x50));
    }

    @Test
    void bitsCannotBeBothWritableAndW1c() {
        cs.setW1cBits(0x50, 1, 0x80);
        assertThrows(IllegalArgumentException.class, () -> cs.setWritableBits(0x50, 1, 0x81));
        cs.setWritableBits(0x54, 1, 0x01);
        assertThrows(IllegalArgumentException.class, () -> cs.setW1cBits(0x54, 1, 0x01));
    }

    @Test
    void capabilityChain() {
        assertEquals(List.of(), cs.capabilities());
        assertEquals(0, cs.get16(ConfigRegisters.STATUS) & ConfigRegisters.STATUS_CAPABILITIES_LIST);

        int msix = cs.addCapability(0x11, 12);
        int vendor = cs.addCapability(0x09, 5);
        int pm = cs.addCapability(0x01, 8);

        assertEquals(0x40, msix);
        assertEquals(0x4C, vendor);
        assertEquals(0x54, pm, "5-byte capability at 0x4c: next is 4-byte aligned at 0x54");
        assertNotEquals(0, cs.get16(ConfigRegisters.STATUS) & ConfigRegisters.STATUS_CAPABILITIES_LIST);
        assertEquals(0x40, cs.get8(ConfigRegisters.CAPABILITIES_POINTER));
        assertEquals(0x11, cs.get8(0x40));
        assertEquals(0x4C, cs.get8(0x41));
        assertEquals(0x09, cs.get8(0x4C));
        assertEquals(0x54, cs.get8(0x4D));
        assertEquals(0x01, cs.get8(0x54));
        assertEquals(0x00, cs.get8(0x55), "the last capability ends the list");
        assertEquals(List.of(new Capability(0x11, 0x40, 12), new Capability(0x09, 0x4C, 5), new Capability(0x01, 0x54, 8)),
                cs.capabilities());
        assertEquals(0x4C, cs.findCapability(0x09));
        assertEquals(-1, cs.findCapability(0x10));
    }

    @Test
    void capabilityWalkFollowsTheBytes() {
        cs.addCapability(0x11, 12);
        cs.addCapability(0x09, 4);
        cs.set8(0x41, 0);   // cut the chain after the first
        assertEquals(List.of(new Capability(0x11, 0x40, 12)), cs.capabilities());
        cs.set8(0x41, 0x40);   // a loop
        assertThrows(IllegalStateException.class, cs::capabilities);
    }

    @Test
    void capabilitySpaceRunsOut() {
        cs.addCapability(0x09, 0xB0);
        assertThrows(IllegalStateException.class, () -> cs.addCapability(0x09, 0x20));
        assertEquals(0xF0, cs.addCapability(0x09, 0x10));
        assertThrows(IllegalArgumentException.class, () -> cs.addCapability(0x09, 1));
        assertThrows(IllegalArgumentException.class, () -> cs.addCapability(0x100, 4));
    }

    @Test
    void outOfRangeAccessesNameTheOwner() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> cs.read(0xFE, 4));
        assertTrue(e.getMessage().contains("dev0"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> cs.read(0x10, 3));
        assertThrows(IllegalArgumentException.class, () -> cs.write(-1, 1, 0));
        assertThrows(IllegalArgumentException.class, () -> cs.set32(0xFD, 0));
        assertThrows(IllegalArgumentException.class, () -> cs.setWritable(0xF0, 0x11));
    }
}
