package io.jvmm.emulator.kvm;

import io.jvmm.chardev.NativeException;
import io.jvmm.chardev.nativ.LibC;
import io.jvmm.chardev.nativ.Native;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.function.Supplier;
import jnr.constants.platform.Errno;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A vCPU's KVM_RUN loop, and who may use the vCPU: the one thread inside {@link #run}, any
 * thread while nobody runs, nobody once closed. It hands port I/O and MMIO exits to the
 * {@link ExitHandler} and returns on any other exit, on {@link #stop()}, or when the handler asks.
 *
 * <p>One lock guards the runner, the closed flag and the kick decision in {@link #stop()}.
 */
final class KvmRunLoop {
    private static final Logger log = LoggerFactory.getLogger(KvmRunLoop.class);
    private static final LibC LIBC = Native.libc();
    private static final int EINTR = Errno.EINTR.intValue();
    private static final int EAGAIN = Errno.EAGAIN.intValue();
    /** How long close waits for a running vCPU to leave KVM_RUN after stop(). */
    private static final long CLOSE_WAIT_MS = 5_000;

    private final int id;
    private final int fd;
    private final KvmRun run;
    private final Supplier<String> registerDump;

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
    /** Exits by reason (ExitReason ordinal); written by the vCPU thread only, read by anyone. */
    private final AtomicLongArray exitsByReason = new AtomicLongArray(ExitReason.values().length);

    /**
     * @param registerDump the registers in words, for the exits that end a run in trouble (never throws)
     */
    KvmRunLoop(int id, int fd, KvmRun run, Supplier<String> registerDump) {
        this.id = id;
        this.fd = fd;
        this.run = run;
        this.registerDump = registerDump;
    }

    /** See {@link KvmVcpu#run(ExitHandler)}. */
    ExitReason run(ExitHandler handler) {
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
            int code = run.exitReason();
            ExitReason reason = ExitReason.of(code);
            countExit(reason);
            switch (reason) {
                case IO -> {
                    handleIo(handler);
                    pendingCompletion = true;
                }
                case MMIO -> {
                    handleMmio(handler);
                    pendingCompletion = true;
                }
                case INTR, IRQ_WINDOW_OPEN -> interruptedRunCount++;
                case HLT -> {
                    hltExitCount++;
                    return finish(reason, code, false);
                }
                default -> {
                    return finish(reason, code, true);   // failures and system events: with the registers
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
        lastExit = new VcpuExit(id, ExitReason.STOPPED, why, "");
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
            int code = run.exitReason();
            countExit(ExitReason.of(code));
            switch (ExitReason.of(code)) {
                case IO -> {
                    handleIo(handler);
                    pendingCompletion = true;
                }
                case MMIO -> {
                    handleMmio(handler);
                    pendingCompletion = true;
                }
                default -> log.warn("vCPU {}: unexpected KVM exit {} while completing an instruction before stopping; ignored",
                        id, code);
            }
        }
    }

    private ExitReason finish(ExitReason reason, int code, boolean withRegisters) {
        String detail = ExitDetails.describe(reason, code, run);
        lastExit = new VcpuExit(id, reason, detail, withRegisters ? registerDump.get() : "");
        // The caller reports failures (with the register dump) once, to the user: log at debug only.
        log.debug("vCPU {} exit: {} {}", id, reason, detail);
        return reason;
    }

    /** See {@link KvmVcpu#stop()}. */
    void stop() {
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

    boolean isRunning() {
        synchronized (lock) {
            return runner != null;
        }
    }

    VcpuExit lastExit() {
        return lastExit;
    }

    long exitCount() {
        return exitCount;
    }

    /** One exit: a plain read and an ordered store, since only the vCPU thread writes. */
    private void countExit(ExitReason reason) {
        int i = reason.ordinal();
        exitsByReason.lazySet(i, exitsByReason.get(i) + 1);
    }

    long exitCount(ExitReason reason) {
        return exitsByReason.get(reason.ordinal());
    }

    long ioExitCount() {
        return ioExitCount;
    }

    long mmioExitCount() {
        return mmioExitCount;
    }

    long hltExitCount() {
        return hltExitCount;
    }

    long interruptedRunCount() {
        return interruptedRunCount;
    }

    /**
     * The vCPU fd, if this thread may issue a vCPU ioctl now: KVM_RUN holds the kernel's vCPU
     * lock, so another thread's ioctl would block until the guest exits, possibly forever.
     */
    int accessibleFd(String call) {
        synchronized (lock) {
            ensureOpen();
            if (runner != null && runner != Thread.currentThread()) {
                throw new IllegalStateException(call + ": vCPU " + id + " is running on thread " + runner.getName()
                        + "; stop() it and let run() return first");
            }
            return fd;
        }
    }

    /**
     * Stops the vCPU if it runs, waits (up to 5 s) for run() to return, and marks the vCPU closed;
     * kvm_run and the fd are then the caller's to free.
     *
     * @return false if it was closed already
     * @throws IllegalStateException if run() did not return in time: nothing may be freed then, so
     *         the running thread never touches unmapped memory
     */
    boolean closeWhenStopped() {
        boolean runningElsewhere;
        synchronized (lock) {
            if (closed) {
                return false;
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
                return false;
            }
            closed = true;
            return true;
        }
    }

    private void ensureOpen() {
        if (closed) {
            throw new IllegalStateException("vCPU " + id + " is closed");
        }
    }
}
