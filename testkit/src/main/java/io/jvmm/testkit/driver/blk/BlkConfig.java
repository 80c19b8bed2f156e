package io.jvmm.testkit.driver.blk;

/** struct virtio_blk_config as the guest read it (one consistent generation). */
public record BlkConfig(long capacitySectors, int sizeMax, int segMax, int blkSize,
                        int maxDiscardSectors, int maxDiscardSeg, int discardSectorAlignment,
                        int maxWriteZeroesSectors, int maxWriteZeroesSeg, boolean writeZeroesMayUnmap) {
}
