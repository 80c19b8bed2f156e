package io.jvmm.testkit.driver.virtio;

/** A chain the device returned: its head, the bytes it wrote ("len"), and what the driver attached to it. */
public record UsedBuffer(int head, int length, Object token) {
}
