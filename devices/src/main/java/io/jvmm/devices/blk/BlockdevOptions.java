package io.jvmm.devices.blk;

import io.jvmm.devices.blk.nbd.NbdClientSettings;
import java.util.Objects;

/**
 * A validated {@code -blockdev driver=file|qcow2|nbd,node-name=ID,...}: a block node a device
 * ({@code drive=ID}) or an NBD export ({@code -export ...,node-name=ID}) opens.
 *
 * @param file   the image's path, or the NBD export's URI
 * @param format raw or qcow2
 */
public record BlockdevOptions(String id, String driver, String file, String format, boolean readOnly, NbdClientSettings nbd)
        implements BlockSource {
    public BlockdevOptions {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(file, "file");
        nbd = nbd == null ? NbdClientSettings.DEFAULT : nbd;
    }

    @Override
    public String where() {
        return "-blockdev " + driver + " node '" + id + "'";
    }

    @Override
    public BlockBackend open(String user) {
        return BlockOpener.open(new BlockOpener.Spec(where() + " (" + user + ")", file, format, readOnly, nbd));
    }
}
