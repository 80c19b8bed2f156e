package io.jvmm.testkit.driver.virtio;

/** Transport feature bits the guest drivers know (virtio 1.x, 6 "Reserved Feature Bits"). */
public final class VirtioFeatureBits {
    public static final long RING_INDIRECT_DESC = 1L << 28;
    public static final long RING_EVENT_IDX = 1L << 29;
    public static final long VERSION_1 = 1L << 32;

    private VirtioFeatureBits() {
    }

    public static boolean has(long features, long bit) {
        return (features & bit) == bit;
    }
}
