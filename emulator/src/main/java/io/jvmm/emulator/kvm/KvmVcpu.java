package io.jvmm.emulator.kvm;

import io.jvmm.chardev.Fds;
import io.jvmm.chardev.NativeException;
import io.jvmm.chardev.nativ.LibC;
import io.jvmm.chardev.nativ.Native;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One virtual CPU: its state (registers, system registers, CPUID, MSRs, MP state, register
 * dumps) and, through {@link KvmRunLoop}, its KVM_RUN loop. {@link #run(ExitHandler)} loops on
 * KVM_RUN on the calling thread (one platform thread per vCPU), handing port I/O and MMIO exits
 * to the handler, until the guest halts (only without an in-kernel irqchip), fails, or somebody
 * calls {@link #stop()}.
 *
 * <p>Threads: {@link #stop()} and the exit counters may be used from any thread. Register and
 * state accessors take the kernel's vCPU lock, which KVM_RUN holds, so they are refused with an
 * {@link IllegalStateException} while another thread is inside {@code run()} (they would
 * otherwise block until the guest exits, possibly forever); the exit handler may use them.
 */
public final class KvmVcpu implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(KvmVcpu.class);
    private static final LibC LIBC = Native.libc();

    public static final int MP_STATE_RUNNABLE = 0;
    public static final int MP_STATE_UNINITIALIZED = 1;
    public static final int MP_STATE_INIT_RECEIVED = 2;
    public static final int MP_STATE_HALTED = 3;
    public static final int MP_STATE_SIPI_RECEIVED = 4;

    private static final int MSR_ENTRY_SIZE = 16;

    private final int id;
    private final int fd;
    private final KvmRun run;
    private final KvmRunLoop loop;

    KvmVcpu(int id, int fd, int mmapSize) {
        this.id = id;
        this.fd = fd;
        this.run = KvmRun.map(fd, mmapSize, id);
        this.loop = new KvmRunLoop(id, fd, run, this::safeDump);
        log.debug("created vCPU {} (fd {})", id, fd);
    }

    public int id() {
        return id;
    }

    // ---- running ---------------------------------------------------------------------------

    /**
     * Runs the guest on the calling thread until an exit it does not serve itself (see
     * {@link ExitReason}), or until it is stopped; the details are then in {@link #lastExit()}.
     * String I/O is delivered one handler call per element, in order.
     *
     * @throws IllegalStateException if the vCPU is closed or already running on another thread
     * @throws NativeException       if KVM_RUN itself fails (e.g. EFAULT on unbacked memory)
     */
    public ExitReason run(ExitHandler handler) {
        return loop.run(handler);
    }

    /**
     * Makes {@link #run} return {@link ExitReason#STOPPED} soon, from any thread, even if the
     * guest is halted inside the kernel with interrupts disabled: it sets kvm_run.immediate_exit
     * and, if the vCPU thread is in KVM_RUN, sends it the kick signal. If run() is not active,
     * the next run() returns STOPPED at once; the request is consumed by the run() that returns.
     */
    public void stop() {
        loop.stop();
    }

    /** Whether a thread is inside {@link #run} now. */
    public boolean isRunning() {
        return loop.isRunning();
    }

    /** Details of the exit that ended the last run(), or null if none has ended yet. */
    public VcpuExit lastExit() {
        return loop.lastExit();
    }

    // ---- exit counters (metrics) -------------------------------------------------------------

    /** Every KVM_RUN that returned an exit to user space. */
    public long exitCount() {
        return loop.exitCount();
    }

    /** Exits of {@code reason} so far (codes no reason names count under UNRECOGNIZED); readable from any thread. */
    public long exitCount(ExitReason reason) {
        return loop.exitCount(reason);
    }

    /** KVM_EXIT_IO exits (a string instruction counts once per exit, not per element). */
    public long ioExitCount() {
        return loop.ioExitCount();
    }

    public long mmioExitCount() {
        return loop.mmioExitCount();
    }

    public long hltExitCount() {
        return loop.hltExitCount();
    }

    /** KVM_RUN returns caused by a signal or immediate_exit (stop(), kicks). */
    public long interruptedRunCount() {
        return loop.interruptedRunCount();
    }

    // ---- state -------------------------------------------------------------------------------

    public Regs getRegs() {
        NativeStruct s = new NativeStruct(Regs.SIZE);
        ioctl(KvmIoctl.GET_REGS, s, "KVM_GET_REGS");
        return Regs.decode(s.buffer());
    }

    public void setRegs(Regs regs) {
        NativeStruct s = new NativeStruct(Regs.SIZE);
        regs.encode(s.buffer());
        ioctl(KvmIoctl.SET_REGS, s, "KVM_SET_REGS");
    }

    public Sregs getSregs() {
        NativeStruct s = new NativeStruct(Sregs.SIZE);
        ioctl(KvmIoctl.GET_SREGS, s, "KVM_GET_SREGS");
        return Sregs.decode(s.buffer());
    }

    /** KVM_SET_SREGS; KVM refuses inconsistent states (e.g. CR0.PG without PE) with EINVAL. */
    public void setSregs(Sregs sregs) {
        NativeStruct s = new NativeStruct(Sregs.SIZE);
        sregs.encode(s.buffer());
        ioctl(KvmIoctl.SET_SREGS, s, "KVM_SET_SREGS");
    }

    /**
     * KVM_SET_CPUID2: what CPUID returns in the guest. Before the first run. See
     * {@link VcpuCpuid#forVcpu} for the standard set derived from {@link Kvm#supportedCpuid()}.
     */
    public void setCpuid(List<CpuidEntry> entries) {
        NativeStruct s = new NativeStruct(8 + entries.size() * CpuidEntry.SIZE);
        s.buffer().putInt(0, entries.size());
        for (int i = 0; i < entries.size(); i++) {
            entries.get(i).encode(s.buffer(), 8 + i * CpuidEntry.SIZE);
        }
        ioctl(KvmIoctl.SET_CPUID2, s, "KVM_SET_CPUID2(" + entries.size() + " entries)");
    }

    /**
     * KVM_SET_MSRS. KVM stops at the first MSR it refuses.
     *
     * @throws IllegalArgumentException naming the first MSR KVM refused
     */
    public void setMsrs(Map<Integer, Long> msrs) {
        List<Map.Entry<Integer, Long>> list = new ArrayList<>(msrs.entrySet());
        NativeStruct s = new NativeStruct(8 + list.size() * MSR_ENTRY_SIZE);
        ByteBuffer b = s.buffer();
        b.putInt(0, list.size());
        for (int i = 0; i < list.size(); i++) {
            b.putInt(8 + i * MSR_ENTRY_SIZE, list.get(i).getKey());
            b.putLong(16 + i * MSR_ENTRY_SIZE, list.get(i).getValue());
        }
        int done = ioctl(KvmIoctl.SET_MSRS, s, "KVM_SET_MSRS(" + list.size() + " MSRs)");
        if (done < list.size()) {
            Map.Entry<Integer, Long> refused = list.get(done);
            throw new IllegalArgumentException(String.format("KVM_SET_MSRS: vCPU %d refused MSR 0x%x = 0x%x (%d of %d set)",
                    id, refused.getKey(), refused.getValue(), done, list.size()));
        }
    }

    /**
     * KVM_GET_MSRS for the given indices, in order.
     *
     * @throws IllegalArgumentException naming the first MSR KVM cannot read
     */
    public Map<Integer, Long> getMsrs(Collection<Integer> indices) {
        List<Integer> list = List.copyOf(indices);
        NativeStruct s = new NativeStruct(8 + list.size() * MSR_ENTRY_SIZE);
        ByteBuffer b = s.buffer();
        b.putInt(0, list.size());
        for (int i = 0; i < list.size(); i++) {
            b.putInt(8 + i * MSR_ENTRY_SIZE, list.get(i));
        }
        int done = ioctl(KvmIoctl.GET_MSRS, s, "KVM_GET_MSRS(" + list.size() + " MSRs)");
        if (done < list.size()) {
            throw new IllegalArgumentException(String.format("KVM_GET_MSRS: vCPU %d cannot read MSR 0x%x", id, list.get(done)));
        }
        Map<Integer, Long> values = new LinkedHashMap<>();
        for (int i = 0; i < list.size(); i++) {
            values.put(list.get(i), b.getLong(16 + i * MSR_ENTRY_SIZE));
        }
        return values;
    }

    /** KVM_SET_MP_STATE, e.g. {@link #MP_STATE_RUNNABLE} for an application processor started by the VMM. */
    public void setMpState(int state) {
        if (state < MP_STATE_RUNNABLE || state > MP_STATE_SIPI_RECEIVED) {
            throw new IllegalArgumentException("vCPU " + id + ": MP state " + state + " is not one of 0-4");
        }
        NativeStruct s = new NativeStruct(4);
        s.buffer().putInt(0, state);
        ioctl(KvmIoctl.SET_MP_STATE, s, "KVM_SET_MP_STATE(" + state + ")");
    }

    public int getMpState() {
        NativeStruct s = new NativeStruct(4);
        ioctl(KvmIoctl.GET_MP_STATE, s, "KVM_GET_MP_STATE");
        return s.buffer().getInt(0);
    }

    /**
     * Puts the vCPU straight into 64-bit mode at {@code entry} with {@code stack}: paging on with
     * CR3 = pml4, flat segments from the GDT at {@code gdt}. The tables must already be in guest
     * memory ({@link LongModeSetup#writeGdt}, {@link LongModeSetup#writeIdentityPageTables}).
     */
    public void setupLongMode(long entry, long stack, long pml4, long gdt) {
        LongModeSetup.enter(this, entry, stack, pml4, gdt);
    }

    /** rip, rsp, rflags, general registers, control registers, EFER, segments, GDT/IDT. */
    public String dumpRegisters() {
        Regs r = getRegs();
        Sregs s = getSregs();
        return String.format("rip=0x%x rsp=0x%x rflags=0x%x (IF=%d) cpl=%d%n%s%n%s", r.rip(), r.rsp(), r.rflags(),
                (r.rflags() & Regs.RFLAGS_IF) != 0 ? 1 : 0, s.cs().selector() & 3, r, s);
    }

    /** {@link #dumpRegisters()}, or why it cannot be had: for an exit report, which must not fail itself. */
    private String safeDump() {
        try {
            return dumpRegisters();
        } catch (RuntimeException e) {
            return "registers unavailable: " + e.getMessage();
        }
    }

    // ---- lifecycle ---------------------------------------------------------------------------

    /**
     * Stops the vCPU if it runs, waits (up to 5 s) for run() to return, then unmaps kvm_run and
     * closes the fd. Later calls do nothing.
     *
     * @throws IllegalStateException if run() did not return in time; nothing is freed then, so
     *         the running thread never touches unmapped memory
     */
    @Override
    public void close() {
        if (!loop.closeWhenStopped()) {
            return;
        }
        try {
            run.unmap();
        } finally {
            Fds.close(fd);
        }
        log.debug("closed vCPU {}", id);
    }

    // ---- internals ---------------------------------------------------------------------------

    private int ioctl(long request, NativeStruct arg, String call) {
        int vcpuFd = loop.accessibleFd(call);
        int rc = LIBC.ioctl(vcpuFd, request, arg.address());
        int errno = rc < 0 ? Native.errno() : 0;
        arg.keepAlive();
        if (rc < 0) {
            throw new NativeException(call + " on vCPU " + id, errno);
        }
        return rc;
    }

    @Override
    public String toString() {
        return "KvmVcpu[" + id + "]";
    }
}
