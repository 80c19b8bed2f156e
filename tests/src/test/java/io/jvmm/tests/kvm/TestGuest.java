package io.jvmm.tests.kvm;

import java.nio.file.Files;
import java.nio.file.Path;

/** Where the freestanding test guest (tests/guest) is, and what it writes to the disk. */
public final class TestGuest {
    /** Built by the tests module's generate-test-resources phase (make -C tests/guest). */
    static final Path ELF = Path.of("guest", "build", "jvmm-test-guest.elf").toAbsolutePath();
    /** debug-exit value 0x10 -> status (0x10 << 1) | 1. */
    public static final int PASS = 33;
    public static final int FAIL = 35;

    static final long PATTERN_SEED = 0x6a766d6d5eed0000L;
    static final int PATTERN_FIRST_SECTOR = 1;
    static final int PATTERN_SECTORS = 8;

    private TestGuest() {
    }

    public static Path elf() {
        if (!Files.isRegularFile(ELF)) {
            throw new IllegalStateException("the test guest " + ELF + " is missing: run 'make -C tests/guest' (the Maven build does it)");
        }
        return ELF;
    }

    /** Word i of sector s, as tests/guest/src/pattern.h defines it. */
    static long patternWord(long sector, long index) {
        return PATTERN_SEED ^ (sector << 32) ^ index;
    }
}
