package io.jvmm.emulator.kvm;

import java.util.ArrayList;
import java.util.List;

/**
 * Builds the CPUID a vCPU should see from {@link Kvm#supportedCpuid()}: KVM reports what it can
 * expose, the VMM still has to fill in what is per-vCPU (the APIC ids in leaves 1 and 0xB/0x1F),
 * describe the machine's topology, set the hypervisor bit, and keep KVM's paravirtual leaves
 * (0x40000000 signature "KVMKVMKVM", 0x40000001 features) so a Linux guest finds kvm-clock.
 */
public final class VcpuCpuid {
    static final int HYPERVISOR_BIT = 1 << 31;
    static final int HTT_BIT = 1 << 28;
    static final int KVM_SIGNATURE_LEAF = 0x40000000;
    static final int KVM_FEATURES_LEAF = 0x40000001;
    // "KVMKVMKVM\0\0\0" in EBX, ECX, EDX
    static final int KVM_SIGNATURE_EBX = 0x4B4D564B;
    static final int KVM_SIGNATURE_ECX = 0x564B4D56;
    static final int KVM_SIGNATURE_EDX = 0x0000004D;
    private static final int LEVEL_SMT = 1;
    private static final int LEVEL_CORE = 2;

    private VcpuCpuid() {
    }

    /**
     * The CPUID for the vCPU with {@code apicId} in a machine of {@code vcpuCount} single-threaded
     * cores in one package.
     */
    public static List<CpuidEntry> forVcpu(List<CpuidEntry> supported, int apicId, int vcpuCount) {
        if (apicId < 0 || apicId > 0xFF) {
            throw new IllegalArgumentException("APIC id " + apicId + " does not fit the 8 bits of CPUID leaf 1");
        }
        if (vcpuCount < 1 || vcpuCount > 0xFF || apicId >= vcpuCount) {
            throw new IllegalArgumentException("vCPU count " + vcpuCount + " must be 1-255 and above APIC id " + apicId);
        }
        List<CpuidEntry> out = new ArrayList<>(supported.size() + 4);
        boolean topologyDone0b = false;
        boolean topologyDone1f = false;
        boolean signature = false;
        boolean features = false;
        for (CpuidEntry e : supported) {
            switch (e.function()) {
                case 1 -> out.add(leaf1(e, apicId, vcpuCount));
                case 0xB -> {
                    if (!topologyDone0b) {
                        out.addAll(topology(0xB, apicId, vcpuCount));
                        topologyDone0b = true;
                    }
                }
                case 0x1F -> {
                    if (!topologyDone1f) {
                        out.addAll(topology(0x1F, apicId, vcpuCount));
                        topologyDone1f = true;
                    }
                }
                case KVM_SIGNATURE_LEAF -> {
                    out.add(new CpuidEntry(KVM_SIGNATURE_LEAF, 0, 0, Math.max(e.eax(), KVM_FEATURES_LEAF),
                            KVM_SIGNATURE_EBX, KVM_SIGNATURE_ECX, KVM_SIGNATURE_EDX));
                    signature = true;
                }
                case KVM_FEATURES_LEAF -> {
                    out.add(e);
                    features = true;
                }
                default -> out.add(e);
            }
        }
        if (!signature) {
            out.add(new CpuidEntry(KVM_SIGNATURE_LEAF, 0, 0, KVM_FEATURES_LEAF, KVM_SIGNATURE_EBX, KVM_SIGNATURE_ECX,
                    KVM_SIGNATURE_EDX));
        }
        if (!features) {
            out.add(new CpuidEntry(KVM_FEATURES_LEAF, 0, 0, 0, 0, 0, 0));
        }
        return List.copyOf(out);
    }

    /** Leaf 1: initial APIC id in EBX[31:24], logical processor count in EBX[23:16], hypervisor bit. */
    private static CpuidEntry leaf1(CpuidEntry e, int apicId, int vcpuCount) {
        int ebx = (e.ebx() & 0x0000FFFF) | (vcpuCount << 16) | (apicId << 24);
        int edx = vcpuCount > 1 ? e.edx() | HTT_BIT : e.edx() & ~HTT_BIT;
        return new CpuidEntry(1, e.index(), e.flags(), e.eax(), ebx, e.ecx() | HYPERVISOR_BIT, edx);
    }

    /**
     * Leaf 0xB / 0x1F (extended topology): an SMT level of one thread, a core level of
     * {@code vcpuCount} cores, then the terminating invalid level; EDX is the x2APIC id on every
     * sub-leaf.
     */
    private static List<CpuidEntry> topology(int leaf, int apicId, int vcpuCount) {
        int coreShift = vcpuCount == 1 ? 0 : 32 - Integer.numberOfLeadingZeros(vcpuCount - 1);
        int flags = CpuidEntry.FLAG_SIGNIFICANT_INDEX;
        return List.of(
                new CpuidEntry(leaf, 0, flags, 0, 1, (LEVEL_SMT << 8), apicId),
                new CpuidEntry(leaf, 1, flags, coreShift, vcpuCount, (LEVEL_CORE << 8) | 1, apicId),
                new CpuidEntry(leaf, 2, flags, 0, 0, 2, apicId));
    }
}
