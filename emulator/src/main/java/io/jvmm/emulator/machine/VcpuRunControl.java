package io.jvmm.emulator.machine;

import io.jvmm.monitor.MachineEvent;
import io.jvmm.monitor.MonitorSupport;
import io.jvmm.monitor.RunState;
import io.jvmm.platform.options.UserError;
import java.time.Duration;
import java.util.Objects;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The KVM machine's run state as a monitor drives it (QMP {@code stop}, {@code cont}): pausing
 * asks every vCPU to leave KVM_RUN ({@code kick}) and waits until each vCPU thread is parked here,
 * so STOP is reported only once no vCPU runs guest code; resuming lets them go on. A vCPU thread
 * calls {@link #parkWhilePaused} before every KVM_RUN. Ending the machine releases every parked
 * thread for good.
 */
final class VcpuRunControl {
    private static final Logger log = LoggerFactory.getLogger(VcpuRunControl.class);

    private final MonitorSupport monitor;
    private final Runnable kick;
    private final Duration parkBound;
    private boolean paused;
    private boolean ending;
    private int active;
    private int parked;

    /**
     * @param kick      makes every vCPU leave KVM_RUN soon (KvmVcpu.stop on each)
     * @param parkBound how long a vCPU may take to park (a vCPU held by a device's completion, rule 1, takes up to its write bound)
     */
    VcpuRunControl(MonitorSupport monitor, Runnable kick, Duration parkBound) {
        this.monitor = Objects.requireNonNull(monitor, "monitor");
        this.kick = Objects.requireNonNull(kick, "kick");
        this.parkBound = parkBound;
    }

    /** The vCPU threads start: the machine runs, unless it was paused before ({@code stop} in prelaunch). */
    synchronized void starting() {
        if (monitor.state() == RunState.PRELAUNCH) {
            monitor.setState(RunState.RUNNING);
        }
    }

    /** A vCPU thread enters its loop. */
    synchronized void vcpuEntered() {
        active++;
    }

    /** A vCPU thread leaves its loop. */
    synchronized void vcpuLeft() {
        active--;
        notifyAll();
    }

    /**
     * Called by a vCPU thread before each KVM_RUN: returns at once while the machine runs, waits
     * while it is paused.
     *
     * @return false once the machine is ending (the thread leaves its loop)
     */
    synchronized boolean parkWhilePaused() {
        if (ending) {
            return false;
        }
        if (!paused) {
            return true;
        }
        parked++;
        notifyAll();
        try {
            while (paused && !ending) {
                wait();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        } finally {
            parked--;
        }
        return !ending;
    }

    /** QMP stop: pauses every vCPU and waits until they are parked; STOP if they ran. */
    void stop() {
        synchronized (this) {
            RunState state = monitor.state();
            if (state == RunState.PAUSED || state.ordinal() > RunState.PAUSED.ordinal()) {
                return;   // already paused, or ended: nothing runs
            }
            paused = true;
            monitor.setState(RunState.PAUSED);
            if (state == RunState.PRELAUNCH) {
                return;   // no vCPU has run: they park before their first KVM_RUN
            }
        }
        kick.run();
        synchronized (this) {
            long deadline = System.nanoTime() + parkBound.toNanos();
            try {
                while (parked < active && !ending) {
                    long left = deadline - System.nanoTime();
                    if (left <= 0) {
                        log.warn("{} of {} vCPUs did not stop within {} ms (held by a device's completion?)", active - parked, active,
                                parkBound.toMillis());
                        break;
                    }
                    wait(Math.max(1, left / 1_000_000));
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        monitor.events().emit(new MachineEvent.Stop());
    }

    /** QMP cont: the vCPUs go on (or start, from prelaunch); RESUME. */
    void cont() {
        synchronized (this) {
            RunState state = monitor.state();
            if (state == RunState.RUNNING) {
                return;
            }
            if (state != RunState.PAUSED && state != RunState.PRELAUNCH) {
                throw new UserError("the KVM machine is " + state.qapiName() + "; it cannot be resumed");
            }
            paused = false;
            monitor.setState(RunState.RUNNING);
            notifyAll();
        }
        monitor.events().emit(new MachineEvent.Resume());
    }

    /** The machine ends with {@code state}: every parked vCPU is released and leaves. */
    synchronized void end(RunState state) {
        ending = true;
        paused = false;
        monitor.setState(state);
        notifyAll();
    }

    synchronized int parkedVcpus() {
        return parked;
    }

    synchronized int activeVcpus() {
        return active;
    }
}
