package io.jvmm.emulator.kvm;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.jvmm.pci.mem.GuestMemory;
import io.jvmm.chardev.Await;
import io.jvmm.chardev.KernelThreads;
import java.util.concurrent.CompletableFuture;

/**
 * A small VM for the KVM tests: 2 MiB of RAM at 0, one vCPU, optionally the in-kernel irqchip.
 * Tests skip (with the reason) only when /dev/kvm is absent or not accessible to this user; any
 * other failure to open KVM fails them.
 *
 * <p>Guest memory layout: GDT 0x500, real-mode code 0x1000, data 0x3000-0x7fff (IDT at 0x7000),
 * 64-bit code {@link #CODE}, page tables {@link #PML4} (6 pages, identity-mapping 4 GiB), stack
 * below {@link #STACK}.
 */
final class KvmFixture implements AutoCloseable {
    static final long RAM = 2L << 20;
    static final long GDT = 0x500;
    static final long REAL_MODE_CODE = 0x1000;
    static final long IDT = 0x7000;
    static final long CODE = 0x10000;
    static final long PML4 = 0x20000;
    static final long STACK = 0x40000;
    static final long TSS_ADDRESS = 0xFFFBD000L;
    static final long IDENTITY_MAP_ADDRESS = 0xFFFBC000L;

    final Kvm kvm;
    final KvmVm vm;
    final GuestMemory memory;
    final KvmVcpu vcpu;
    /** The kernel thread id of the thread the last {@link #runAsync} started (0 before). */
    private volatile int runnerTid;

    private KvmFixture(boolean irqchip) {
        kvm = Kvm.open();
        vm = kvm.createVm();
        memory = GuestMemory.ofRam("kvm-test-ram", RAM);
        vm.setTssAddress(TSS_ADDRESS);
        vm.setIdentityMapAddress(IDENTITY_MAP_ADDRESS);
        if (irqchip) {
            vm.createIrqchip();
        }
        vm.mapMemory(memory);
        vcpu = vm.createVcpu(0);
    }

    /** Skips the calling test, with the reason, unless this host's KVM can run a VM. */
    static void assumeKvm() {
        String why = Kvm.unusableReason();
        assumeTrue(why == null, () -> why + ": KVM tests skipped");
    }

    static KvmFixture create(boolean irqchip) {
        assumeKvm();
        return new KvmFixture(irqchip);
    }

    /** Loads a 64-bit guest at {@link #CODE} with a GDT and 4 GiB of identity page tables, ready to run. */
    void loadLongMode(byte[] code) {
        memory.write(CODE, code, 0, code.length);
        LongModeSetup.writeGdt(memory, GDT);
        LongModeSetup.writeIdentityPageTables(memory, PML4, 4L << 30);
        vcpu.setupLongMode(CODE, STACK, PML4, GDT);
    }

    /** Loads a 16-bit real-mode guest at {@code address} with CS = 0 (KVM resets into CS = 0xF000). */
    void loadRealMode(byte[] image, long address) {
        memory.write(address, image, 0, image.length);
        Sregs s = vcpu.getSregs();
        s.setCs(new Segment(0, 0xFFFF, 0, 0xB, true, 0, false, true, false, false, false, false));
        vcpu.setSregs(s);
        vcpu.setRegs(new Regs().setRip(address));
    }

    /** Runs the vCPU on a new platform thread; the future completes with run()'s result or exception. */
    CompletableFuture<ExitReason> runAsync(ExitHandler handler) {
        CompletableFuture<ExitReason> result = new CompletableFuture<>();
        Thread t = new Thread(() -> {
            runnerTid = KernelThreads.currentTid();
            try {
                result.complete(vcpu.run(handler));
            } catch (Throwable e) {
                result.completeExceptionally(e);
            }
        }, "test-vcpu-" + vcpu.id());
        t.setDaemon(true);
        t.start();
        return result;
    }

    /**
     * Waits until the thread of {@code run} (the last {@link #runAsync}) is asleep inside KVM_RUN,
     * which with the in-kernel irqchip means the guest has halted (HLT blocks in the kernel), or
     * until the run has ended (the caller checks which).
     */
    void awaitAsleepInKvmRunOrDone(CompletableFuture<?> run) {
        Await.until(() -> run.isDone() || (runnerTid != 0 && KernelThreads.isBlockedIn(runnerTid, KernelThreads.SYS_IOCTL,
                request -> request == KvmIoctl.RUN)), "the vCPU thread to sleep in KVM_RUN (a halted guest)");
    }

    @Override
    public void close() {
        try {
            vm.close();
        } finally {
            memory.close();
            kvm.close();
        }
    }
}
