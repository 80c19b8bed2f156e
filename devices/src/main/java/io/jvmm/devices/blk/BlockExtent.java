package io.jvmm.devices.blk;

/**
 * One run of a block back-end's allocation map (NBD's {@code base:allocation}): {@code length}
 * bytes that are a hole (not allocated; reads see the backing file or zeroes) and/or read as zeroes.
 */
public record BlockExtent(long length, boolean hole, boolean zero) {
    public BlockExtent {
        if (length <= 0) {
            throw new IllegalArgumentException("extent length " + length);
        }
    }

    public static BlockExtent data(long length) {
        return new BlockExtent(length, false, false);
    }
}
