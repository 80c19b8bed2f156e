package io.jvmm.emulator.machine;

import io.jvmm.emulator.boot.BootCpuState;
import io.jvmm.emulator.boot.BootPlan;
import io.jvmm.emulator.boot.SegmentDescriptor;
import io.jvmm.emulator.kvm.DescriptorTable;
import io.jvmm.emulator.kvm.CpuidEntry;
import io.jvmm.emulator.kvm.KvmVcpu;
import io.jvmm.emulator.kvm.Regs;
import io.jvmm.emulator.kvm.Segment;
import io.jvmm.emulator.kvm.Sregs;
import io.jvmm.emulator.kvm.VcpuCpuid;

import java.util.List;

/** Puts a vCPU in the state a {@link BootPlan} asks for: CPUID, registers, MP state. */
final class VcpuSetup {
    private VcpuSetup() {
    }

    static void configure(List<CpuidEntry> supportedCpuid, KvmVcpu vcpu, int index, int cpus, BootPlan plan) {
        vcpu.setCpuid(VcpuCpuid.forVcpu(supportedCpuid, index, cpus));
        if (index > 0 && plan.secondaryCpusStartBySipi()) {
            // Linux starts its APs itself with INIT/SIPI through the in-kernel APIC.
            vcpu.setMpState(KvmVcpu.MP_STATE_UNINITIALIZED);
            return;
        }
        BootCpuState s = plan.cpuStates().get(index);
        Sregs sregs = vcpu.getSregs();
        sregs.setCs(segment(s.code()))
                .setDataSegments(segment(s.data()))
                .setTr(segment(s.tss()))
                .setGdt(new DescriptorTable(s.gdtBase(), s.gdtLimit()))
                .setIdt(new DescriptorTable(s.idtBase(), s.idtLimit()))
                .setCr0(s.cr0())
                .setCr3(s.cr3())
                .setCr4(s.cr4())
                .setEfer(s.efer());
        vcpu.setSregs(sregs);
        Regs regs = new Regs().setRip(s.rip()).setRsp(s.rsp()).setRsi(s.rsi()).setRflags(s.rflags());
        regs.set(Regs.Reg.RDI, s.rdi());
        regs.set(Regs.Reg.RDX, s.rdx());
        vcpu.setRegs(regs);
        if (index > 0) {
            vcpu.setMpState(KvmVcpu.MP_STATE_RUNNABLE);   // an ELF guest's APs start at the entry too
        }
    }

    private static Segment segment(SegmentDescriptor d) {
        return new Segment(d.base(), (int) d.limit(), d.selector(), d.type(), d.present(), d.dpl(), d.db(), d.s(), d.l(), d.g(),
                false, false);
    }
}
