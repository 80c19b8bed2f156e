package io.jvmm.tests.kvm;

import org.junit.jupiter.api.Assumptions;

import java.nio.file.Files;
import java.nio.file.Path;

/** Skips KVM tests, with the reason, only where the machine truly cannot run them. */
public final class KvmAvailable {
    private static final Path KVM = Path.of("/dev/kvm");

    private KvmAvailable() {
    }

    /** Skips unless this host's KVM can run a VM: /dev/kvm opened, checked, and a VM created (Kvm.unusableReason). */
    public static void assume() {
        String why = io.jvmm.emulator.kvm.Kvm.unusableReason();
        Assumptions.assumeTrue(why == null, () -> why + ": KVM tests cannot run");
    }

    /** Linux-guest tests also need a KVM that can run a stock kernel: PVM (kvm_pvm) cannot. */
    public static void assumeStockLinuxBoots() {
        assume();
        Assumptions.assumeFalse(Files.exists(Path.of("/sys/module/kvm_pvm")),
                "this host's KVM is the PVM flavour (module kvm_pvm loaded): a stock Linux kernel cannot boot under it "
                        + "(instruction-emulation failures on int3/xrstor/cmpxchg16b); Linux-guest tests run on hosts with kvm_intel or kvm_amd");
    }
}
