package io.jvmm.devices.ivshmem;

import io.jvmm.chardev.SocketChardevSpec;
import io.jvmm.platform.options.UserError;
import io.jvmm.platform.registry.DeviceOptions;
import java.util.Objects;

/**
 * {@code -device ivshmem-doorbell,chardev=C[,vectors=N][,x-async-setup=on[,size=S]]}.
 *
 * @param chardev    the client socket of the ivshmem server; its timeout-ms= bounds the setup
 * @param vectors    MSI-X vectors (QEMU's default is 1)
 * @param asyncSetup rule 6 off: the setup runs after the device is built, as QEMU did before 2.6
 *                   (experiments only: the guest can see IVPosition -1 and a BAR2 with no memory)
 * @param asyncSize  with asyncSetup, BAR2's size (it must be known before the memory arrives)
 */
public record IvshmemDoorbellOptions(String id, SocketChardevSpec chardev, int vectors, boolean asyncSetup, long asyncSize)
        implements DeviceOptions {
    public static final long DEFAULT_ASYNC_SIZE = 4L << 20;

    public IvshmemDoorbellOptions {
        Objects.requireNonNull(id, "id");
        String owner = IvshmemDoorbellType.DRIVER + " '" + id + "'";
        Objects.requireNonNull(chardev, () -> owner + ": chardev");
        IvshmemDoorbellType.VECTORS.check(owner, vectors);
        if (asyncSetup && (asyncSize < 4096 || Long.bitCount(asyncSize) != 1)) {
            throw new UserError(owner + ": size=" + asyncSize + " is not allowed (a power of two of at least 4 KiB)");
        }
    }

    /** A synchronous setup with {@code vectors} vectors (tests). */
    public static IvshmemDoorbellOptions of(String id, SocketChardevSpec chardev, int vectors) {
        return new IvshmemDoorbellOptions(id, chardev, vectors, false, DEFAULT_ASYNC_SIZE);
    }
}
