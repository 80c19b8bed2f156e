package io.jvmm.testkit.driver.virtio;

import io.jvmm.testkit.driver.GuestDriverException;

/**
 * How the driver sets up one queue: a size (0 = the device's maximum), and whether to write it
 * unchecked. A careful driver clamps to the maximum and requires a power of two; an unchecked
 * size is how tests play a buggy guest (zero, not a power of two, over the maximum).
 */
public record QueueSetup(int size, boolean unchecked) {
    /** The device's maximum size. */
    public static QueueSetup deviceMax() {
        return new QueueSetup(0, false);
    }

    /** {@code size}, or the device's maximum if smaller. */
    public static QueueSetup size(int size) {
        if (size <= 0 || Integer.bitCount(size) != 1) {
            throw new IllegalArgumentException("queue size " + size + " must be a positive power of two");
        }
        return new QueueSetup(size, false);
    }

    /** Writes {@code size} as it is, however wrong (a guest mistake on purpose). */
    public static QueueSetup unchecked(int size) {
        if (size < 0 || size > 0xFFFF) {
            throw new IllegalArgumentException("queue size " + size + " does not fit the 16-bit register");
        }
        return new QueueSetup(size, true);
    }

    /** The size to write given the device's maximum. */
    int resolve(int max, String owner, int queue) {
        if (unchecked) {
            return size;
        }
        if (Integer.bitCount(max) != 1) {
            throw new GuestDriverException(owner + ": queue " + queue + " maximum size " + max + " is not a power of two");
        }
        return size == 0 ? max : Math.min(size, max);
    }
}
