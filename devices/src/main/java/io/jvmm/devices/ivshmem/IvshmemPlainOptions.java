package io.jvmm.devices.ivshmem;

import io.jvmm.platform.backends.MemoryBackendOptions;
import io.jvmm.platform.options.UserError;
import io.jvmm.platform.registry.DeviceOptions;
import java.util.Objects;

/** {@code -device ivshmem-plain,memdev=M}: BAR2 is memory back-end M (a power of two of at least 4 KiB). */
public record IvshmemPlainOptions(String id, MemoryBackendOptions memdev) implements DeviceOptions {
    public IvshmemPlainOptions {
        Objects.requireNonNull(id, "id");
        String owner = IvshmemPlainType.DRIVER + " '" + id + "'";
        IvshmemPlainType.MEMDEV.check(owner, memdev);
        if (memdev.size() < 4096 || Long.bitCount(memdev.size()) != 1) {
            throw new UserError(owner + ": memdev '" + memdev.id() + "' is " + memdev.size()
                    + " bytes; BAR2 needs a power of two of at least 4 KiB");
        }
    }
}
