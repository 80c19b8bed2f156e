package io.jvmm.testkit.driver.fs;

import java.util.List;

/**
 * One virtio-fs request as the transport sees it (virtio 1.2, 5.11.6): device-readable parts in
 * order (for FUSE: in-header, argument structs, names, write data), then device-writable parts
 * (for FUSE: out-header, reply body). Each part starts a new descriptor, as Linux's driver lays
 * them out; virtiofsd's zero-copy WRITE path relies on the in-header and fuse_write_in having
 * descriptors of their own. A request with no writable part is one the device completes
 * without writing (FORGET).
 *
 * @param readable      the device-readable parts, at least one, none empty
 * @param writableSizes the sizes of the device-writable parts (contiguous in guest memory), none 0
 */
public record FsRequest(List<byte[]> readable, List<Integer> writableSizes) {
    public FsRequest {
        readable = List.copyOf(readable);
        writableSizes = List.copyOf(writableSizes);
        if (readable.isEmpty()) {
            throw new IllegalArgumentException("a virtio-fs request needs at least one device-readable part");
        }
        for (int i = 0; i < readable.size(); i++) {
            if (readable.get(i).length == 0) {
                throw new IllegalArgumentException("device-readable part " + i + " of a virtio-fs request is empty");
            }
        }
        for (int i = 0; i < writableSizes.size(); i++) {
            if (writableSizes.get(i) <= 0) {
                throw new IllegalArgumentException("device-writable part " + i + " of a virtio-fs request has size " + writableSizes.get(i));
            }
        }
        sum(readable.stream().mapToLong(b -> b.length).sum(), "readable");
        sum(writableSizes.stream().mapToLong(Integer::longValue).sum(), "writable");
    }

    private static void sum(long bytes, String what) {
        if (bytes > Integer.MAX_VALUE - 4096) {
            throw new IllegalArgumentException("a virtio-fs request of " + bytes + " " + what + " bytes is too large");
        }
    }

    /** Total device-readable bytes. */
    public int readableBytes() {
        int sum = 0;
        for (byte[] part : readable) {
            sum += part.length;
        }
        return sum;
    }

    /** Total device-writable bytes (the reply capacity). */
    public int writableBytes() {
        int sum = 0;
        for (int size : writableSizes) {
            sum += size;
        }
        return sum;
    }
}
