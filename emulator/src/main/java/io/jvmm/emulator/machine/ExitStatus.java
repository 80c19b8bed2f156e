package io.jvmm.emulator.machine;

/**
 * Process statuses jvmm ends with. The debug-exit port produces odd values ((v << 1) | 1), so the
 * VMM's own failures use even ones.
 */
public final class ExitStatus {
    public static final int OK = 0;
    /** A mistake on the command line or in a file it names. */
    public static final int USER_ERROR = 2;
    /** The host cannot run the machine (no KVM, permission, capability). */
    public static final int HOST_ERROR = 4;
    /** The guest triple-faulted (KVM_EXIT_SHUTDOWN). */
    public static final int GUEST_CRASHED = 120;
    /** KVM could not run or emulate the guest (internal error, failed entry). */
    public static final int EMULATION_FAILED = 122;

    private ExitStatus() {
    }
}
