package io.jvmm.devices.p9;

import io.jvmm.chardev.SocketChardevSpec;
import io.jvmm.devices.p9.server.FlushMode;
import io.jvmm.platform.options.UserError;
import io.jvmm.platform.registry.DeviceOptions;

import java.util.Objects;

/**
 * {@code -device virtio-9p-pci,fsdev=ID|chardev=ID,mount_tag=TAG[,x-flush=exact|historic]}: exactly one of
 * an {@code -fsdev local} (served in-process) or a {@code -chardev socket} (an external 9P server).
 */
public record P9Options(String id, FsdevOptions fsdev, SocketChardevSpec chardev, String mountTag, FlushMode flush,
                        int queueSize) implements DeviceOptions {
    public static final int DEFAULT_QUEUE_SIZE = 128;

    public P9Options {
        Objects.requireNonNull(id, "id");
        String owner = P9DeviceType.DRIVER + " '" + id + "'";
        if ((fsdev == null) == (chardev == null)) {
            throw new UserError(owner + ": give exactly one of fsdev=ID (-fsdev local) or chardev=ID (an external 9P server)");
        }
        P9DeviceType.MOUNT_TAG.check(owner, mountTag);
        Objects.requireNonNull(flush, "flush");
        P9DeviceType.QUEUE_SIZE.check(owner, queueSize);
        if (chardev != null && flush == FlushMode.HISTORIC) {
            throw new UserError(owner + ": x-flush=historic applies to the in-process server (fsdev=), not to chardev=");
        }
    }
}
