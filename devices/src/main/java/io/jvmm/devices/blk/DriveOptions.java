package io.jvmm.devices.blk;

import io.jvmm.platform.options.UserError;
import io.jvmm.platform.registry.BackendOptions;
import java.nio.file.Path;
import java.util.Objects;

/**
 * A validated {@code -drive file=FILE,format=raw,if=none,id=ID[,readonly=on]}: a disk image a
 * block device opens as its {@link BlockBackend}.
 */
public record DriveOptions(String id, Path file, String format, boolean readOnly) implements BackendOptions {
    public DriveOptions {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(file, () -> "drive '" + id + "': file");
        DriveType.FORMAT.check("drive '" + id + "'", format);
    }

    /** A raw image (tests). */
    public static DriveOptions raw(String id, Path file, boolean readOnly) {
        return new DriveOptions(id, file, "raw", readOnly);
    }

    /**
     * Opens the image for device {@code deviceId}.
     *
     * @throws UserError naming the drive and the file when it cannot be opened as asked
     */
    public BlockBackend open(String deviceId, int ioThreads) {
        try {
            return new RawFileBackend(deviceId, file, readOnly, ioThreads);
        } catch (IllegalArgumentException e) {
            throw new UserError("-drive " + id + ": " + e.getMessage(), e);
        }
    }
}
