package io.jvmm.devices.debugexit;

import io.jvmm.platform.options.UserError;
import io.jvmm.platform.registry.DeviceOptions;
import java.util.Objects;

/** {@code -device isa-debug-exit[,iobase=0x501][,iosize=2]}. */
public record DebugExitOptions(String id, int iobase, int iosize) implements DeviceOptions {
    public DebugExitOptions {
        Objects.requireNonNull(id, "id");
        String owner = DebugExitType.DRIVER + " '" + id + "'";
        DebugExitType.IOBASE.check(owner, iobase);
        DebugExitType.IOSIZE.check(owner, iosize);
        if (iobase + iosize > 0x10000) {
            throw new UserError(owner + ": iobase=0x" + Integer.toHexString(iobase) + ",iosize=" + iosize
                    + " runs past the end of the port space (0xffff)");
        }
    }
}
