package io.jvmm.emulator.kvm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The per-vCPU CPUID derived from what KVM supports. */
class VcpuCpuidTest {
    private static final List<CpuidEntry> SUPPORTED = List.of(
            new CpuidEntry(0, 0, 0, 0xD, 0x756E6547, 0x6C65746E, 0x49656E69),
            new CpuidEntry(1, 0, 0, 0x806F8, 0x00020800 | (7 << 24), 0x7ED8320B, 0x178BFBFF),
            new CpuidEntry(0xB, 0, 1, 1, 2, 0x100, 9),
            new CpuidEntry(0xB, 1, 1, 7, 64, 0x201, 9),
            new CpuidEntry(0xB, 2, 1, 0, 0, 2, 9),
            new CpuidEntry(0x40000000, 0, 0, 0x40000001, 0, 0, 0),
            new CpuidEntry(0x40000001, 0, 0, 0x01007AFB, 0, 0, 0));

    private static CpuidEntry find(List<CpuidEntry> entries, int function, int index) {
        return entries.stream().filter(e -> e.function() == function && e.index() == index).findFirst()
                .orElseThrow(() -> new AssertionError("no leaf 0x" + Integer.toHexString(function) + "." + index));
    }

    @Test
    void leafOneCarriesTheApicIdCountAndHypervisorBit() {
        List<CpuidEntry> out = VcpuCpuid.forVcpu(SUPPORTED, 3, 4);
        CpuidEntry l1 = find(out, 1, 0);
        assertEquals(3, l1.ebx() >>> 24, "initial APIC id");
        assertEquals(4, (l1.ebx() >>> 16) & 0xFF, "logical processors");
        assertEquals(0x0800, l1.ebx() & 0xFFFF, "CLFLUSH size and brand index kept");
        assertTrue((l1.ecx() & VcpuCpuid.HYPERVISOR_BIT) != 0);
        assertTrue((l1.edx() & VcpuCpuid.HTT_BIT) != 0, "HTT: more than one logical processor");
        assertEquals(0x7ED8320B | VcpuCpuid.HYPERVISOR_BIT, l1.ecx(), "other feature bits untouched");
        assertEquals(0, find(VcpuCpuid.forVcpu(SUPPORTED, 0, 1), 1, 0).edx() & VcpuCpuid.HTT_BIT);
    }

    @Test
    void extendedTopologyDescribesTheMachineWithTheX2apicId() {
        List<CpuidEntry> out = VcpuCpuid.forVcpu(SUPPORTED, 2, 3);
        assertEquals(3, out.stream().filter(e -> e.function() == 0xB).count(), "host sub-leaves replaced, not added");
        for (int i = 0; i < 3; i++) {
            CpuidEntry e = find(out, 0xB, i);
            assertEquals(2, e.edx(), "x2APIC id on sub-leaf " + i);
            assertEquals(CpuidEntry.FLAG_SIGNIFICANT_INDEX, e.flags());
            assertEquals(i, e.ecx() & 0xFF);
        }
        assertEquals(1, find(out, 0xB, 0).ebx(), "one thread per core");
        assertEquals(3, find(out, 0xB, 1).ebx(), "three cores");
        assertEquals(2, find(out, 0xB, 1).eax(), "two bits of APIC id for three cores");
        assertEquals(0, find(out, 0xB, 2).ecx() >>> 8, "terminating level is invalid");
    }

    @Test
    void kvmLeavesAreKeptOrAdded() {
        List<CpuidEntry> out = VcpuCpuid.forVcpu(SUPPORTED, 0, 1);
        CpuidEntry sig = find(out, 0x40000000, 0);
        assertEquals(VcpuCpuid.KVM_SIGNATURE_EBX, sig.ebx());
        assertEquals(0x01007AFB, find(out, 0x40000001, 0).eax(), "KVM's feature bits are passed on");

        List<CpuidEntry> bare = VcpuCpuid.forVcpu(SUPPORTED.subList(0, 2), 0, 1);
        CpuidEntry added = find(bare, 0x40000000, 0);
        assertEquals(0x40000001, added.eax());
        assertEquals(0x4D, added.edx(), "'M' of KVMKVMKVM");
        find(bare, 0x40000001, 0);
    }

    @Test
    void impossibleIdsAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> VcpuCpuid.forVcpu(SUPPORTED, 256, 300));
        assertThrows(IllegalArgumentException.class, () -> VcpuCpuid.forVcpu(SUPPORTED, 2, 2));
        assertThrows(IllegalArgumentException.class, () -> VcpuCpuid.forVcpu(SUPPORTED, 0, 0));
    }
}
