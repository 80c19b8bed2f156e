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
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLongArray;
import jnr.constants.platform.Errno;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One virtual CPU. {@link #run(ExitHandler)} loops on KVM_RUN on the calling thread (one platform
 * thread per vCPU), handing port I/O and MMIO exits to the handler, until the guest halts (only
 * without an in-kernel irqchip), fails, or somebody calls {@link #stop()}.
 *
 * <p>Threads: {@link #stop()} and the exit counters may be used from any thread. Register and
 * state accessors take the kernel's vCPU lock, which KVM_RUN holds, so they are refused with an
 * {@link IllegalStateException} while another thread is inside {@code run()} (they would
 * otherwise block until the guest exits, possibly forever); the exit handler may use them.
 */
public final class KvmVcpu implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(KvmVcpu.class);
    private static final LibC LIBC = Native.libc();
    private static final int EINTR = Errno.EINTR.intValue();
    private static final int EAGAIN = Errno.EAGAIN.intValue();

    public static final int MP_STATE_RUNNABLE = 0;
    public static final int MP_STATE_UNINITIALIZED = 1;
    public static final int MP_STATE_INIT_RECEIVED = 2;
    public static final int MP_STATE_HALTED = 3;
    public static final int MP_STATE_SIPI_RECEIVED = 4;

    // KVM_EXIT_* codes (include/uapi/linux/kvm.h)
    static final int EXIT_UNKNOWN = 0;
    static final int EXIT_EXCEPTION = 1;
    static final int EXIT_IO = 2;
    static final int EXIT_DEBUG = 4;
    static final int EXIT_HLT = 5;
    static final int EXIT_MMIO = 6;
    static final int EXIT_IRQ_WINDOW_OPEN = 7;
    static final int EXIT_SHUTDOWN = 8;
    static final int EXIT_FAIL_ENTRY = 9;
    static final int EXIT_INTR = 10;
    static final int EXIT_INTERNAL_ERROR = 17;
    static final int EXIT_SYSTEM_EVENT = 24;

    private static final int MSR_ENTRY_SIZE = 16;
    /** How long close() waits for a running vCPU to leave KVM_RUN after stop(). */
    private static final long CLOSE_WAIT_MS = 5_000;

    private final int id;
    private final int fd;
    private final KvmRun run;

    /** Guards runner, runnerTid, closed, and the kick decision in stop(). */
    private final Object lock = new Object();
    private Thread runner;
    private int runnerTid;
    private boolean closed;
    /** True from just before KVM_RUN until it returned: the only time a kick signal is sent. */
    private volatile boolean inKernel;
    private volatile boolean stopRequested;
    private volatile VcpuExit lastExit;
    /** The last exit was I/O or MMIO and no KVM_RUN has completed its instruction yet (vCPU thread only). */
    private boolean pendingCompletion;

    // Written by the vCPU thread only, read by anyone (metrics).
    private volatile long exitCount;
    private volatile long ioExitCount;
    private volatile long mmioExitCount;
    private volatile long hltExitCount;
    private volatile long interruptedRunCount;
    /** Exits by KVM exit code (the last slot gathers codes past it); written by the vCPU thread only. */
    private final AtomicLongArray exitsByCode = new AtomicLongArray(EXIT_CODE_SLOTS);
    /** How many KVM exit codes are counted one by one (include/uapi/linux/kvm.h has fewer than 64). */
    public static final int EXIT_CODE_SLOTS = 64;

    KvmVcpu(int id, int fd, int mmapSize) {
        this.id = id;
        this.fd = fd;
        this.run = KvmRun.map(fd, mmapSize, id);
        log.debug("created vCPU {} (fd {})", id, fd);
    }

    public int id() {
        return id;
    }

    // ---- running ---------------------------------------------------------------------------

    /**
     * Runs the guest on the calling thread until it stops (see {@link ExitReason}); the details are
     * then in {@link #lastExit()}. String I/O is delivered one handler call per element, in order.
     *
     * @throws IllegalStateException if the vCPU is closed or already running on another thread
     * @throws NativeException       if KVM_RUN itself fails (e.g. EFAULT on unbacked memory)
     */
    public ExitReason run(ExitHandler handler) {
        Objects.requireNonNull(handler, "handler");
        VcpuKicker kicker = VcpuKicker.get();
        synchronized (lock) {
            ensureOpen();
            if (runner != null) {
                throw new IllegalStateException("vCPU " + id + " is already running on thread " + runner.getName());
            }
            runner = Thread.currentThread();
            runnerTid = VcpuKicker.currentTid();
        }
        try {
            kicker.unblockInCurrentThread();
            return loop(handler);
        } finally {
            synchronized (lock) {
                inKernel = false;
                runner = null;
                runnerTid = 0;
                lock.notifyAll();
            }
        }
    }

    private ExitReason loop(ExitHandler handler) {
        pendingCompletion = false;
        while (true) {
            // Dekker with stop(): either we see stopRequested here, or stop() sees inKernel and
            // kicks us; immediate_exit covers the gap between this check and the ioctl.
            inKernel = true;
            if (stopRequested) {
                return stopped("stop() was called", handler);
            }
            int rc = LIBC.ioctl(fd, KvmIoctl.RUN, 0L);
            int errno = rc < 0 ? Native.errno() : 0;
            synchronized (lock) {
                inKernel = false;
            }
            pendingCompletion = false;   // any KVM_RUN completes the previous exit's instruction
            if (rc < 0) {
                if (errno == EINTR || errno == EAGAIN) {
                    interruptedRunCount++;
                    run.setImmediateExit(false);   // stopRequested is checked again at the top
                    continue;
                }
                throw new NativeException("KVM_RUN(vCPU " + id + ")", errno);
            }
            exitCount++;
            int reason = run.exitReason();
            countExit(reason);
            switch (reason) {
                case EXIT_IO -> {
                    handleIo(handler);
                    pendingCompletion = true;
                }
                case EXIT_MMIO -> {
                    handleMmio(handler);
                    pendingCompletion = true;
                }
                case EXIT_INTR, EXIT_IRQ_WINDOW_OPEN -> interruptedRunCount++;
                case EXIT_HLT -> {
                    hltExitCount++;
                    return finish(ExitReason.HLT, reason, "", false);
                }
                case EXIT_SHUTDOWN -> {
                    return finish(ExitReason.SHUTDOWN, reason, "triple fault (KVM_EXIT_SHUTDOWN)", true);
                }
                case EXIT_FAIL_ENTRY -> {
                    return finish(ExitReason.FAIL_ENTRY, reason, String.format(
                            "KVM_EXIT_FAIL_ENTRY: hardware entry failure reason 0x%x on host cpu %d",
                            run.u64(KvmRun.FAIL_ENTRY_REASON), run.u32(KvmRun.FAIL_ENTRY_CPU)), true);
                }
                case EXIT_INTERNAL_ERROR -> {
                    return finish(ExitReason.INTERNAL_ERROR, reason, describeInternalError(), true);
                }
                case EXIT_SYSTEM_EVENT -> {
                    return finish(ExitReason.SYSTEM_EVENT, reason, describeSystemEvent(), true);
                }
                default -> {
                    return finish(ExitReason.UNHANDLED, reason, describeUnhandled(reason), true);
                }
            }
            if (handler.shouldStop()) {
                return stopped("the exit handler asked to stop", handler);
            }
        }
    }

    private void handleIo(ExitHandler handler) {
        int direction = run.u8(KvmRun.IO_DIRECTION);
        int size = run.u8(KvmRun.IO_SIZE);
        int port = run.u16(KvmRun.IO_PORT);
        long count = Integer.toUnsignedLong(run.u32(KvmRun.IO_COUNT));
        if (size != 1 && size != 2 && size != 4) {
            throw new IllegalStateException("KVM_EXIT_IO on vCPU " + id + " with access size " + size + " at port 0x"
                    + Integer.toHexString(port));
        }
        int at = run.checkedDataRange(run.u64(KvmRun.IO_DATA_OFFSET), size, count);
        ioExitCount++;
        for (int i = 0; i < count; i++) {
            int offset = at + i * size;
            if (direction == KvmRun.IO_IN) {
                run.writeValue(offset, size, handler.ioRead(port, size));
            } else {
                handler.ioWrite(port, size, run.readValue(offset, size));
            }
        }
    }

    private void handleMmio(ExitHandler handler) {
        long address = run.u64(KvmRun.MMIO_PHYS_ADDR);
        int length = run.u32(KvmRun.MMIO_LEN);
        boolean write = run.u8(KvmRun.MMIO_IS_WRITE) != 0;
        if (length < 1 || length > 8) {
            throw new IllegalStateException("KVM_EXIT_MMIO on vCPU " + id + " with length " + length + " at 0x"
                    + Long.toHexString(address));
        }
        mmioExitCount++;
        if (write) {
            handler.mmioWrite(address, length, run.readValue(KvmRun.MMIO_DATA, length));
        } else {
            run.writeValue(KvmRun.MMIO_DATA, length, handler.mmioRead(address, length));
        }
    }

    private ExitReason stopped(String why, ExitHandler handler) {
        synchronized (lock) {
            inKernel = false;   // no kicks from here on: this thread leaves run() now
        }
        completePendingExit(handler);
        stopRequested = false;
        synchronized (lock) {
            if (!closed) {
                run.setImmediateExit(false);
            }
        }
        lastExit = new VcpuExit(id, ExitReason.STOPPED, -1, why, "");
        log.debug("vCPU {} stopped: {}", id, why);
        return ExitReason.STOPPED;
    }

    /**
     * After an I/O or MMIO exit the guest instruction is only finished (rip advanced, IN data in
     * its register) by the next KVM_RUN. Before handing the vCPU back, re-enter with
     * immediate_exit set: KVM completes the instruction and returns EINTR without running the
     * guest further, so the state a caller reads or saves is consistent (KVM API, immediate_exit).
     * A long string instruction may need user space once more (its next batch of I/O): that exit
     * is handled too, since it belongs to the instruction already under way.
     */
    private void completePendingExit(ExitHandler handler) {
        while (pendingCompletion) {
            pendingCompletion = false;
            run.setImmediateExit(true);
            int rc = LIBC.ioctl(fd, KvmIoctl.RUN, 0L);
            int errno = rc < 0 ? Native.errno() : 0;
            if (rc < 0) {
                if (errno != EINTR && errno != EAGAIN) {
                    throw new NativeException("KVM_RUN(vCPU " + id + ", completing the last exit)", errno);
                }
                return;
            }
            exitCount++;
            int reason = run.exitReason();
            countExit(reason);
            if (reason == EXIT_IO) {
                handleIo(handler);
                pendingCompletion = true;
            } else if (reason == EXIT_MMIO) {
                handleMmio(handler);
                pendingCompletion = true;
            } else {
                log.warn("vCPU {}: unexpected KVM exit {} while completing an instruction before stopping; ignored",
                        id, reason);
            }
        }
    }

    private ExitReason finish(ExitReason reason, int kvmExitReason, String detail, boolean withRegisters) {
        VcpuExit exit = new VcpuExit(id, reason, kvmExitReason, detail, withRegisters ? safeDump() : "");
        lastExit = exit;
        // The caller reports failures (with the register dump) once, to the user: log at debug only.
        log.debug("vCPU {} exit: {} {}", id, reason, detail);
        return reason;
    }

    private String describeInternalError() {
        int suberror = run.u32(KvmRun.INTERNAL_SUBERROR);
        String what = switch (suberror) {
            case 1 -> "instruction emulation failed";
            case 2 -> "simultaneous exceptions";
            case 3 -> "exception while delivering an event";
            case 4 -> "unexpected exit reason";
            default -> "suberror " + suberror;
        };
        return "KVM_EXIT_INTERNAL_ERROR: " + what + " (suberror " + suberror + ")"
                + dataWords(KvmRun.INTERNAL_NDATA, KvmRun.INTERNAL_DATA);
    }

    private String describeSystemEvent() {
        int type = run.u32(KvmRun.SYSTEM_EVENT_TYPE);
        String what = switch (type) {
            case 1 -> "shutdown";
            case 2 -> "reset";
            case 3 -> "crash";
            case 4 -> "wakeup";
            case 5 -> "suspend";
            default -> "type " + type;
        };
        return "KVM_EXIT_SYSTEM_EVENT: " + what + dataWords(KvmRun.SYSTEM_EVENT_NDATA, KvmRun.SYSTEM_EVENT_DATA);
    }

    private String describeUnhandled(int reason) {
        String name = switch (reason) {
            case EXIT_UNKNOWN -> String.format("KVM_EXIT_UNKNOWN (hardware exit reason 0x%x)", run.u64(KvmRun.HW_EXIT_REASON));
            case EXIT_EXCEPTION -> "KVM_EXIT_EXCEPTION";
            case EXIT_DEBUG -> "KVM_EXIT_DEBUG";
            default -> "KVM exit reason " + reason;
        };
        return name + " is not handled by jvmm";
    }

    /** ", data [0x.., ..]" for an exit's u64 array, bounded by the exit union. */
    private String dataWords(int ndataOffset, int dataOffset) {
        long n = Integer.toUnsignedLong(run.u32(ndataOffset));
        long max = (KvmRun.EXIT_UNION_END - dataOffset) / 8;
        if (n == 0) {
            return "";
        }
        StringBuilder sb = new StringBuilder(", data [");
        for (int i = 0; i < Math.min(n, max); i++) {
            sb.append(i == 0 ? "" : ", ").append("0x").append(Long.toHexString(run.u64(dataOffset + 8 * i)));
        }
        return sb.append(']').toString();
    }

    /**
     * Makes {@link #run} return {@link ExitReason#STOPPED} soon, from any thread, even if the
     * guest is halted inside the kernel with interrupts disabled: it sets kvm_run.immediate_exit
     * and, if the vCPU thread is in KVM_RUN, sends it the kick signal. If run() is not active,
     * the next run() returns STOPPED at once; the request is consumed by the run() that returns.
     */
    public void stop() {
        stopRequested = true;
        synchronized (lock) {
            if (closed) {
                return;
            }
            run.setImmediateExit(true);
            if (inKernel && runnerTid != 0) {
                VcpuKicker.get().kick(runnerTid);
            }
        }
    }

    /** Whether a thread is inside {@link #run} now. */
    public boolean isRunning() {
        synchronized (lock) {
            return runner != null;
        }
    }

    /** Details of the exit that ended the last run(), or null if none has ended yet. */
    public VcpuExit lastExit() {
        return lastExit;
    }

    // ---- exit counters (metrics) -------------------------------------------------------------

    /** One exit of {@code code}: a plain read and an ordered store, since only the vCPU thread writes. */
    private void countExit(int code) {
        int slot = code >= 0 && code < EXIT_CODE_SLOTS ? code : EXIT_CODE_SLOTS - 1;
        exitsByCode.lazySet(slot, exitsByCode.get(slot) + 1);
    }

    /**
     * Exits with KVM exit code {@code code} (KVM_EXIT_*) so far; codes of {@link #EXIT_CODE_SLOTS}
     * - 1 and above are counted together under that code. Readable from any thread.
     */
    public long exitCount(int code) {
        if (code < 0 || code >= EXIT_CODE_SLOTS) {
            throw new IllegalArgumentException("KVM exit code " + code + " out of 0.." + (EXIT_CODE_SLOTS - 1));
        }
        return exitsByCode.get(code);
    }

    /** Every KVM_RUN that returned an exit to user space. */
    public long exitCount() {
        return exitCount;
    }

    /** KVM_EXIT_IO exits (a string instruction counts once per exit, not per element). */
    public long ioExitCount() {
        return ioExitCount;
    }

    public long mmioExitCount() {
        return mmioExitCount;
    }

    public long hltExitCount() {
        return hltExitCount;
    }

    /** KVM_RUN returns caused by a signal or immediate_exit (stop(), kicks). */
    public long interruptedRunCount() {
        return interruptedRunCount;
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
        boolean runningElsewhere;
        synchronized (lock) {
            if (closed) {
                return;
            }
            if (runner == Thread.currentThread()) {
                throw new IllegalStateException("vCPU " + id + " cannot be closed from inside its own run()");
            }
            runningElsewhere = runner != null;
        }
        if (runningElsewhere) {
            stop();
        }
        synchronized (lock) {
            long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(CLOSE_WAIT_MS);
            while (runner != null) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw new IllegalStateException("vCPU " + id + " did not leave KVM_RUN within " + CLOSE_WAIT_MS
                            + " ms of stop(); not closing it");
                }
                try {
                    TimeUnit.NANOSECONDS.timedWait(lock, left);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException("interrupted while waiting for vCPU " + id + " to stop", e);
                }
            }
            if (closed) {
                return;
            }
            closed = true;
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
        int vcpuFd = accessibleFd(call);
        int rc = LIBC.ioctl(vcpuFd, request, arg.address());
        int errno = rc < 0 ? Native.errno() : 0;
        arg.keepAlive();
        if (rc < 0) {
            throw new NativeException(call + " on vCPU " + id, errno);
        }
        return rc;
    }

    /** The fd, if this thread may issue a vCPU ioctl now (see the class comment). */
    private int accessibleFd(String call) {
        synchronized (lock) {
            ensureOpen();
            if (runner != null && runner != Thread.currentThread()) {
                throw new IllegalStateException(call + ": vCPU " + id + " is running on thread " + runner.getName()
                        + "; stop() it and let run() return first");
            }
            return fd;
        }
    }

    private void ensureOpen() {
        if (closed) {
            throw new IllegalStateException("vCPU " + id + " is closed");
        }
    }

    @Override
    public String toString() {
        return "KvmVcpu[" + id + "]";
    }
}
