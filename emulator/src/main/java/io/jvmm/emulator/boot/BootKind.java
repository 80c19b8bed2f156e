package io.jvmm.emulator.boot;

/** What kind of image was booted, detected by its magic. */
public enum BootKind {
    /** A bzImage through the Linux x86 64-bit boot protocol. */
    LINUX,
    /** A 64-bit ELF executable (our freestanding test guest, or any ELF keeping to its contract). */
    ELF
}
