package io.jvmm.emulator.platform;

/** How a platform device ends the VM (debug-exit port, i8042 reset, shutdown). */
@FunctionalInterface
public interface ExitRequest {
    /** Stops the machine; the jvmm process exits with {@code status}. */
    void exit(int status, String reason);
}
