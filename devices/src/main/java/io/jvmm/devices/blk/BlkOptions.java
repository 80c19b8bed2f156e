package io.jvmm.devices.blk;

import io.jvmm.platform.registry.DeviceOptions;
import java.util.Objects;

/**
 * {@code -device virtio-blk-pci,drive=ID[,serial=S][,queue-size=N][,num-queues=N][,poll-max-ns=NS]}, validated here
 * (through the properties {@link BlkDeviceType} declares) however it was built.
 *
 * @param serial    up to 20 characters reported by GET_ID, or null
 * @param queueSize the size of each request queue
 * @param numQueues request queues (VIRTIO_BLK_F_MQ when more than one): one per guest vCPU lets
 *                  Linux complete each request on the vCPU that submitted it, as QEMU's default does
 * @param pollMaxNs how long the device's context busy-polls its queues before it sleeps (QEMU's
 *                  iothread {@code poll-max-ns}; QEMU's iothreads poll 32768 ns by default); 0, the
 *                  default here, never polls: on 2 cores polling showed no gain over vfio-user,
 *                  where it competes with the TCG guest's vCPU threads for a CPU, although it cuts
 *                  a 4 KiB read on the no-CPU machine from about 20 to 6 us (PERFORMANCE.md, issue 14)
 */
public record BlkOptions(String id, BlockSource drive, String serial, int queueSize, int numQueues, long pollMaxNs)
        implements DeviceOptions {
    public static final int DEFAULT_QUEUE_SIZE = 256;
    public static final int DEFAULT_NUM_QUEUES = 1;
    public static final long DEFAULT_POLL_MAX_NS = 0;

    public BlkOptions {
        Objects.requireNonNull(id, "id");
        String owner = BlkDeviceType.DRIVER + " '" + id + "'";
        BlkDeviceType.DRIVE.check(owner, drive);
        BlkDeviceType.SERIAL.check(owner, serial);
        BlkDeviceType.QUEUE_SIZE.check(owner, queueSize);
        BlkDeviceType.NUM_QUEUES.check(owner, numQueues);
        BlkDeviceType.POLL_MAX_NS.check(owner, pollMaxNs);
    }

    /** Polling at its default. */
    public BlkOptions(String id, BlockSource drive, String serial, int queueSize, int numQueues) {
        this(id, drive, serial, queueSize, numQueues, DEFAULT_POLL_MAX_NS);
    }

    /** One request queue. */
    public BlkOptions(String id, BlockSource drive, String serial, int queueSize) {
        this(id, drive, serial, queueSize, DEFAULT_NUM_QUEUES);
    }
}
