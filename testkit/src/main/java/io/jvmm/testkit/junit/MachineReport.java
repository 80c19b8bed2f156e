package io.jvmm.testkit.junit;

/**
 * What the extension attaches to a failed test (as a suppressed exception): the devices' status
 * (virtio status register, DEVICE_NEEDS_RESET, the last fault, MSI-X counts), the back-ends with
 * the end of their output, and the recent log lines. It has no stack trace of its own.
 */
public final class MachineReport extends RuntimeException {
    private static final long serialVersionUID = 1L;

    MachineReport(String report) {
        super(report, null, false, false);
    }
}
