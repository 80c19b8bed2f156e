package io.jvmm.pci.msix;

/** What became of a signalled MSI-X vector. */
public enum SignalResult {
    /** The message went to the sink. */
    DELIVERED,
    /** The vector is masked (or the function is): its PBA bit is set, it is delivered once on unmask. */
    PENDING,
    /** MSI-X is disabled: nothing recorded. */
    DROPPED
}
