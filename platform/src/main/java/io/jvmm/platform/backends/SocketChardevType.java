package io.jvmm.platform.backends;

import io.jvmm.chardev.SocketChardevSpec;
import io.jvmm.platform.options.UserError;
import io.jvmm.platform.registry.BackendKind;
import io.jvmm.platform.registry.BackendType;
import io.jvmm.platform.registry.Property;
import io.jvmm.platform.registry.PropertyValues;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * {@code -chardev socket,id=ID,path=PATH[,server=on|off][,wait=on|off][,reconnect=S][,reconnect-ms=MS][,timeout-ms=MS]}:
 * a Unix socket (QEMU's spelling; a server waits for its first client unless wait=off).
 */
public final class SocketChardevType implements BackendType<ChardevOptions> {
    static final Property<String> PATH = Property.string("path", "the Unix socket's path").required();
    static final Property<Boolean> SERVER = Property.bool("server", "listen on path instead of connecting to it").withDefault(false);
    static final Property<Boolean> WAIT = Property.bool("wait", "server only: wait for the first client before going on");
    static final Property<Long> RECONNECT = Property.number("reconnect", "seconds", 1, 3600,
            "after a disconnect, reconnect (client) or accept again (server) every this many seconds");
    static final Property<Long> RECONNECT_MS = Property.number("reconnect-ms", "milliseconds", 1, 3_600_000,
            "as reconnect, in milliseconds");
    static final Property<Long> TIMEOUT_MS = Property.number("timeout-ms", "milliseconds", 1, 3_600_000,
            "how long connecting, or waiting for the first client, may take")
            .withDefault(SocketChardevSpec.DEFAULT_CONNECT_TIMEOUT.toMillis());

    @Override
    public BackendKind kind() {
        return BackendKind.CHARDEV;
    }

    @Override
    public String name() {
        return "socket";
    }

    @Override
    public String description() {
        return "a Unix socket, as client or server";
    }

    @Override
    public List<Property<?>> properties() {
        return List.of(PATH, SERVER, WAIT, RECONNECT, RECONNECT_MS, TIMEOUT_MS);
    }

    @Override
    public ChardevOptions options(PropertyValues v) {
        String owner = v.owner();
        boolean server = v.get(SERVER);
        if (!server && v.given(WAIT)) {
            throw new UserError(owner + ": wait= is incompatible with a client (server=off)");
        }
        Boolean wait = v.get(WAIT);
        Duration reconnect = null;
        if (v.given(RECONNECT)) {
            reconnect = Duration.ofSeconds(RECONNECT.check(owner, v.get(RECONNECT)));
        }
        if (v.given(RECONNECT_MS)) {
            reconnect = Duration.ofMillis(RECONNECT_MS.check(owner, v.get(RECONNECT_MS)));
        }
        Duration timeout = Duration.ofMillis(TIMEOUT_MS.check(owner, v.get(TIMEOUT_MS)));
        SocketChardevSpec spec = new SocketChardevSpec(v.id(), Path.of(PATH.check(owner, v.get(PATH))), server,
                server && (wait == null || wait), reconnect, timeout);
        return new ChardevOptions(v.id(), spec);
    }
}
