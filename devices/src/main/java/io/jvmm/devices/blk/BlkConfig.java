package io.jvmm.devices.blk;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/** The virtio-blk configuration space (struct virtio_blk_config), built once from the options. */
final class BlkConfig {
    static final int CAPACITY = 0;                     // le64, in 512-byte sectors
    static final int SIZE_MAX = 8;                     // le32
    static final int SEG_MAX = 12;                     // le32
    static final int BLK_SIZE = 20;                    // le32
    static final int NUM_QUEUES = 34;                  // le16 (VIRTIO_BLK_F_MQ)
    static final int MAX_DISCARD_SECTORS = 36;         // le32
    static final int MAX_DISCARD_SEG = 40;             // le32
    static final int DISCARD_SECTOR_ALIGNMENT = 44;    // le32
    static final int MAX_WRITE_ZEROES_SECTORS = 48;    // le32
    static final int MAX_WRITE_ZEROES_SEG = 52;        // le32
    static final int WRITE_ZEROES_MAY_UNMAP = 56;      // u8
    static final int SIZE = 60;

    private final ByteBuffer bytes = ByteBuffer.allocate(SIZE).order(ByteOrder.LITTLE_ENDIAN);

    BlkConfig(long capacitySectors, int sizeMax, int segMax, int maxDiscardSectors, int numQueues) {
        bytes.putLong(CAPACITY, capacitySectors);
        bytes.putInt(SIZE_MAX, sizeMax);
        bytes.putInt(SEG_MAX, segMax);
        bytes.putInt(BLK_SIZE, BlkDevice.SECTOR);
        bytes.putShort(NUM_QUEUES, (short) numQueues);
        bytes.putInt(MAX_DISCARD_SECTORS, maxDiscardSectors);
        bytes.putInt(MAX_DISCARD_SEG, 1);
        bytes.putInt(DISCARD_SECTOR_ALIGNMENT, 1);
        bytes.putInt(MAX_WRITE_ZEROES_SECTORS, maxDiscardSectors);
        bytes.putInt(MAX_WRITE_ZEROES_SEG, 1);
        bytes.put(WRITE_ZEROES_MAY_UNMAP, (byte) 1);
    }

    int read(int offset, int size) {
        int value = 0;
        for (int i = size - 1; i >= 0; i--) {
            value = (value << 8) | (bytes.get(offset + i) & 0xff);
        }
        return value;
    }
}
