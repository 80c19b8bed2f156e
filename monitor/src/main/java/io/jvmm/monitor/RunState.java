package io.jvmm.monitor;

/** A machine's run state, with QEMU's names (QMP {@code query-status}, HMP {@code info status}). */
public enum RunState {
    /** Built, its vCPUs not started yet. */
    PRELAUNCH("prelaunch", false),
    RUNNING("running", true),
    /** Stopped by the monitor ({@code stop}); {@code cont} resumes it. */
    PAUSED("paused", false),
    /** Ended by the guest or the monitor ({@code quit}). */
    SHUTDOWN("shutdown", false),
    /** A vCPU could not run the guest (an emulation failure). */
    INTERNAL_ERROR("internal-error", false),
    /** The guest crashed (a triple fault). */
    GUEST_PANICKED("guest-panicked", false);

    private final String qapiName;
    private final boolean running;

    RunState(String qapiName, boolean running) {
        this.qapiName = qapiName;
        this.running = running;
    }

    /** QEMU's name: "running", "paused", "prelaunch", ... */
    public String qapiName() {
        return qapiName;
    }

    /** Whether the vCPUs run (QMP's {@code running}). */
    public boolean running() {
        return running;
    }
}
