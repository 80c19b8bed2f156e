package io.jvmm.emulator.kvm;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.junit.jupiter.api.Test;

/** The Java views of kvm_regs, kvm_sregs, kvm_segment and kvm_cpuid_entry2 against the C layouts. */
class StructLayoutTest {

    private static ByteBuffer buffer(int size) {
        return ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
    }

    @Test
    void regsFollowKvmRegsOrderWithRipAt128AndRflagsAt136() {
        assertEquals(144, Regs.SIZE);
        Regs r = new Regs().setRip(0x1122334455667788L).setRflags(0x202).setRsp(0x8000).setRsi(0x7000).setRax(1);
        r.set(Regs.Reg.R15, 0xF15);
        ByteBuffer b = buffer(Regs.SIZE);
        r.encode(b);
        assertEquals(1, b.getLong(0));
        assertEquals(0x7000, b.getLong(32));
        assertEquals(0x8000, b.getLong(48));
        assertEquals(0xF15, b.getLong(120));
        assertEquals(0x1122334455667788L, b.getLong(128));
        assertEquals(0x202, b.getLong(136));
        assertEquals(r, Regs.decode(b));
        assertEquals(Regs.RFLAGS_RESERVED, new Regs().rflags(), "a fresh Regs has the reserved flag bit set");
    }

    @Test
    void segmentMatchesKvmSegmentFieldByField() {
        ByteBuffer b = buffer(Segment.SIZE + 8);
        Segment s = new Segment(0xFFFF800000000000L, 0xFFFFF, 0x2B, 0x3, true, 3, true, true, false, true, false, true);
        s.encode(b, 8);
        assertEquals(0xFFFF800000000000L, b.getLong(8));
        assertEquals(0xFFFFF, b.getInt(16));
        assertEquals(0x2B, b.getShort(20));
        assertEquals(3, b.get(22), "type");
        assertEquals(1, b.get(23), "present");
        assertEquals(3, b.get(24), "dpl");
        assertEquals(1, b.get(25), "db");
        assertEquals(1, b.get(26), "s");
        assertEquals(0, b.get(27), "l");
        assertEquals(1, b.get(28), "g");
        assertEquals(0, b.get(29), "avl");
        assertEquals(1, b.get(30), "unusable");
        assertEquals(s, Segment.decode(b, 8));
    }

    @Test
    void sregsPlacesEveryFieldAtItsKvmOffset() {
        ByteBuffer raw = buffer(Sregs.SIZE);
        for (int i = 0; i < Sregs.SIZE; i++) {
            raw.put(i, (byte) (i * 7 + 1));
        }
        for (int i = 202; i < 208; i++) {   // kvm_dtable padding is not preserved: keep it zero
            raw.put(i, (byte) 0);
        }
        for (int i = 218; i < 224; i++) {
            raw.put(i, (byte) 0);
        }
        for (int seg = 0; seg < 8; seg++) {
            int at = seg * 24;
            raw.put(at + 15, (byte) (seg & 1));   // the flag bytes are booleans: 0 or 1
            for (int flag = 17; flag <= 22; flag++) {
                raw.put(at + flag, (byte) ((seg + flag) & 1));
            }
            raw.put(at + 23, (byte) 0);   // kvm_segment padding
        }
        Sregs s = Sregs.decode(raw);
        ByteBuffer again = buffer(Sregs.SIZE);
        s.encode(again);
        assertEquals(raw, again, "decode then encode reproduces every byte");

        s.setCr3(0x20000).setEfer(0x500).setApicBase(0xFEE00900L).setCs(Segment.code64(8))
                .setGdt(new DescriptorTable(0x500, 39));
        s.encode(again);
        assertEquals(0x20000, again.getLong(240));
        assertEquals(0x500, again.getLong(264));
        assertEquals(0xFEE00900L, again.getLong(272));
        assertEquals(8, again.getShort(12), "cs.selector");
        assertEquals(0x500, again.getLong(192), "gdt.base");
        assertEquals(39, again.getShort(200), "gdt.limit");
    }

    @Test
    void cpuidEntryIs40BytesWithRegistersFrom12() {
        ByteBuffer b = buffer(2 * CpuidEntry.SIZE);
        CpuidEntry e = new CpuidEntry(0xB, 1, CpuidEntry.FLAG_SIGNIFICANT_INDEX, 0xA, 0xB, 0xC, 0xD);
        e.encode(b, CpuidEntry.SIZE);
        assertEquals(0xB, b.getInt(40));
        assertEquals(1, b.getInt(44));
        assertEquals(1, b.getInt(48));
        assertEquals(0xA, b.getInt(52));
        assertEquals(0xD, b.getInt(64));
        assertEquals(e, CpuidEntry.decode(b, CpuidEntry.SIZE));
    }
}
