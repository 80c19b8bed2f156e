package io.jvmm.testkit.driver.pci;

/** What a BAR decodes, as read from its low bits: I/O ports, 32-bit memory or 64-bit memory. */
public enum BarKind {
    IO,
    MEM32,
    MEM64
}
