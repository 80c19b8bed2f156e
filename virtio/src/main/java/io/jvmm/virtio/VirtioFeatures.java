package io.jvmm.virtio;

/** Transport-level feature bits (virtio 1.x, "Reserved Feature Bits"). Device bits live with each device. */
public final class VirtioFeatures {
    public static final int RING_INDIRECT_DESC = 28;
    public static final int RING_EVENT_IDX = 29;
    public static final int VERSION_1 = 32;
    public static final int ACCESS_PLATFORM = 33;
    public static final int RING_PACKED = 34;

    /** The transport bits jvmm's split-ring transport offers on top of a device's own. */
    public static final long TRANSPORT_OFFERED = bit(VERSION_1) | bit(RING_INDIRECT_DESC) | bit(RING_EVENT_IDX);

    private VirtioFeatures() {
    }

    public static long bit(int n) {
        return 1L << n;
    }

    public static boolean has(long features, int n) {
        return (features & bit(n)) != 0;
    }
}
