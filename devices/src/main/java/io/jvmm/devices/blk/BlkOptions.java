package io.jvmm.devices.blk;

import io.jvmm.platform.registry.DeviceOptions;
import java.util.Objects;

/**
 * {@code -device virtio-blk-pci,drive=ID[,serial=S][,queue-size=N]}, validated here (through the
 * properties {@link BlkDeviceType} declares) however it was built.
 *
 * @param serial    up to 20 characters reported by GET_ID, or null
 * @param queueSize the request queue's size
 */
public record BlkOptions(String id, BlockSource drive, String serial, int queueSize) implements DeviceOptions {
    public static final int DEFAULT_QUEUE_SIZE = 256;

    public BlkOptions {
        Objects.requireNonNull(id, "id");
        String owner = BlkDeviceType.DRIVER + " '" + id + "'";
        BlkDeviceType.DRIVE.check(owner, drive);
        BlkDeviceType.SERIAL.check(owner, serial);
        BlkDeviceType.QUEUE_SIZE.check(owner, queueSize);
    }
}
