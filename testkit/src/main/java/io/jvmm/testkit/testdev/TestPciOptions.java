package io.jvmm.testkit.testdev;

import io.jvmm.platform.backends.MemoryBackendOptions;
import io.jvmm.platform.options.UserError;
import io.jvmm.platform.registry.DeviceOptions;
import java.util.Objects;

/**
 * {@code -device jvmm-testdev[,memdev=ID|,size=SIZE][,vectors=N]}.
 *
 * @param memdev the memory back-end BAR2 shows, or null for a memfd of {@code size} bytes
 */
public record TestPciOptions(String id, MemoryBackendOptions memdev, long size, int vectors) implements DeviceOptions {
    public static final long DEFAULT_SIZE = 1 << 20;

    public TestPciOptions {
        Objects.requireNonNull(id, "id");
        String owner = TestPciDeviceType.DRIVER + " '" + id + "'";
        long bytes = memdev != null ? memdev.size() : size;
        TestPciDeviceType.SIZE.check(owner, bytes);
        if (Long.bitCount(bytes) != 1 || bytes < 4096) {
            throw new UserError(owner + ": BAR2 must be a power of two of at least 4 KiB, not " + bytes + " bytes");
        }
        TestPciDeviceType.VECTORS.check(owner, vectors);
    }
}
