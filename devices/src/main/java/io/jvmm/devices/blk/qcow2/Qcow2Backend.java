package io.jvmm.devices.blk.qcow2;

import io.jvmm.devices.blk.BlockBackend;
import io.jvmm.devices.blk.loop.NettyLoop;
import io.jvmm.devices.blk.nbd.NbdClientSettings;
import java.nio.file.Path;

/** A qcow2 image (placeholder). */
public final class Qcow2Backend {
    private Qcow2Backend() {
    }

    public static BlockBackend open(String owner, Path path, boolean readOnly, NbdClientSettings nbd, NettyLoop loop) {
        throw new IllegalArgumentException("qcow2 is not supported yet");
    }
}
