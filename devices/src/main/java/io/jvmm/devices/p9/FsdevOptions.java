package io.jvmm.devices.p9;

import io.jvmm.devices.p9.server.SecurityModel;
import io.jvmm.platform.registry.BackendOptions;

import java.nio.file.Path;
import java.util.Objects;

/**
 * {@code -fsdev local,id=ID,path=DIR,security_model=passthrough|mapped-xattr|none[,readonly=on][,x-delay-ms=N]}:
 * a directory the in-process 9P server exports.
 *
 * @param delayMs tests only: every Tread, Twrite and Treaddir waits this long before it starts, so
 *                that a guest's flushes land while they are in flight (0: normal)
 */
public record FsdevOptions(String id, Path path, SecurityModel security, boolean readOnly, long delayMs)
        implements BackendOptions {
    public FsdevOptions {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(path, () -> "-fsdev " + id + ": path");
        Objects.requireNonNull(security, () -> "-fsdev " + id + ": security_model");
    }
}
