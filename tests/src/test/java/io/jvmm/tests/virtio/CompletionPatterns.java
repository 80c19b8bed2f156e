package io.jvmm.tests.virtio;

import java.util.Random;

/** Reproducible test data. */
final class CompletionPatterns {
    private CompletionPatterns() {
    }

    /** {@code length} pseudo-random bytes determined by {@code seed}. */
    static byte[] bytes(int length, long seed) {
        byte[] b = new byte[length];
        new Random(seed).nextBytes(b);
        return b;
    }
}
