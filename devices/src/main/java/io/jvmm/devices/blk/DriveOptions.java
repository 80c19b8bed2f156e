package io.jvmm.devices.blk;

import io.jvmm.devices.blk.nbd.NbdClientSettings;
import io.jvmm.platform.registry.BackendOptions;
import java.nio.file.Path;
import java.util.Objects;

/**
 * A validated {@code -drive file=FILE,format=raw|qcow2,if=none,id=ID[,readonly=on]}: a disk
 * image, or an NBD export named by a URI ({@code nbd+unix:///EXPORT?socket=PATH},
 * {@code nbd://HOST:PORT/EXPORT}), that a block device opens as its {@link BlockBackend}.
 *
 * @param nbd how NBD connections (the file's, or a qcow2's backing file's) behave on failure
 */
public record DriveOptions(String id, String file, String format, boolean readOnly, NbdClientSettings nbd)
        implements BackendOptions, BlockSource {
    public DriveOptions {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(file, () -> "drive '" + id + "': file");
        DriveType.FORMAT.check("drive '" + id + "'", format);
        nbd = nbd == null ? NbdClientSettings.DEFAULT : nbd;
    }

    /** A raw image (tests). */
    public static DriveOptions raw(String id, Path file, boolean readOnly) {
        return new DriveOptions(id, file.toString(), "raw", readOnly, NbdClientSettings.DEFAULT);
    }

    @Override
    public String where() {
        return "-drive " + id;
    }

    /**
     * Opens the image for device {@code deviceId}.
     *
     * @throws io.jvmm.platform.options.UserError naming the drive and the file when it cannot be opened as asked
     */
    @Override
    public BlockBackend open(String deviceId) {
        return BlockOpener.open(new BlockOpener.Spec(where() + " (" + deviceId + ")", file, format, readOnly, nbd));
    }
}
