package io.jvmm.testkit.driver.fs;

/**
 * A completed virtio-fs request: the used length the device reported and the bytes of the
 * writable area it covers (never more than was offered: a used length beyond the capacity is
 * kept as reported so that the protocol layer can call it what it is).
 *
 * @param written    the first min(usedLength, capacity) bytes of the writable area
 * @param usedLength the used ring's len (an unsigned 32-bit value): bytes the device says it wrote
 * @param capacity   the writable bytes the request offered
 */
public record FsResponse(byte[] written, long usedLength, int capacity) {
    @Override
    public String toString() {
        return String.format("virtio-fs response: used len %d of %d writable bytes", usedLength, capacity);
    }
}
