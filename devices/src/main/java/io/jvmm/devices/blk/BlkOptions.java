package io.jvmm.devices.blk;

import io.jvmm.platform.registry.DeviceOptions;
import java.util.Objects;

/**
 * {@code -device virtio-blk-pci,drive=ID[,serial=S][,queue-size=N][,num-queues=N]}, validated here
 * (through the properties {@link BlkDeviceType} declares) however it was built.
 *
 * @param serial    up to 20 characters reported by GET_ID, or null
 * @param queueSize the size of each request queue
 * @param numQueues request queues (VIRTIO_BLK_F_MQ when more than one): one per guest vCPU lets
 *                  Linux complete each request on the vCPU that submitted it, as QEMU's default does
 */
public record BlkOptions(String id, BlockSource drive, String serial, int queueSize, int numQueues) implements DeviceOptions {
    public static final int DEFAULT_QUEUE_SIZE = 256;
    public static final int DEFAULT_NUM_QUEUES = 1;

    public BlkOptions {
        Objects.requireNonNull(id, "id");
        String owner = BlkDeviceType.DRIVER + " '" + id + "'";
        BlkDeviceType.DRIVE.check(owner, drive);
        BlkDeviceType.SERIAL.check(owner, serial);
        BlkDeviceType.QUEUE_SIZE.check(owner, queueSize);
        BlkDeviceType.NUM_QUEUES.check(owner, numQueues);
    }

    /** One request queue. */
    public BlkOptions(String id, BlockSource drive, String serial, int queueSize) {
        this(id, drive, serial, queueSize, DEFAULT_NUM_QUEUES);
    }
}
