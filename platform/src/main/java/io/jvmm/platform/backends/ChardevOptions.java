package io.jvmm.platform.backends;

import io.jvmm.chardev.SocketChardevSpec;
import io.jvmm.platform.registry.BackendOptions;
import java.util.Objects;

/** A validated {@code -chardev socket}: what vhost-user, ivshmem and 9P devices connect through. */
public record ChardevOptions(String id, SocketChardevSpec socket) implements BackendOptions {
    public ChardevOptions {
        Objects.requireNonNull(socket, "socket");
    }

    /** A client of the socket at {@code path} (tests). */
    public static ChardevOptions client(String id, java.nio.file.Path path) {
        return new ChardevOptions(id, SocketChardevSpec.client(id, path));
    }
}
