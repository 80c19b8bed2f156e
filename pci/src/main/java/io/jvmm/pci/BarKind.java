package io.jvmm.pci;

/** What a base address register decodes: port I/O, or memory below 4 GiB, or 64-bit memory (two registers). */
public enum BarKind {
    IO,
    MEM32,
    MEM64;

    public boolean isMemory() {
        return this != IO;
    }
}
