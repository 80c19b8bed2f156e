package io.jvmm.devices.p9.server;

/** Tflush handling: exact (rule 4) or QEMU's pre-2017 behaviour, for experiments (x-flush=historic). */
public enum FlushMode {
    /** Every Tflush answered, in order, after its victim's reply or cancellation. */
    EXACT,
    /** QEMU before 2017: a Tflush waits for its victim to run to its end; only the first Tflush for a victim is answered, later ones are dropped and their slots leak. */
    HISTORIC;

    public static FlushMode parse(String text) {
        switch (text) {
            case "exact": return EXACT;
            case "historic": return HISTORIC;
            default: throw new IllegalArgumentException("x-flush=" + text + " is not exact or historic");
        }
    }
}
