package io.jvmm.chardev;

import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * Options of a Unix-socket character device, after QEMU's
 * {@code -chardev socket,id=ID,path=PATH[,server=on|off][,wait=on|off][,reconnect=SECONDS]}.
 *
 * @param id             the chardev's name (used in every message)
 * @param path           the socket path
 * @param server         listen on path (true) or connect to it (false)
 * @param waitForClient  server only: opening blocks until the first client connects (QEMU's wait=on)
 * @param reconnect      after a disconnect, a client reconnects every this often and a server
 *                       accepts again; null means the chardev stays disconnected
 * @param connectTimeout how long opening may take (client: connect attempts; server with
 *                       waitForClient: waiting for the first client)
 */
public record SocketChardevSpec(String id, Path path, boolean server, boolean waitForClient, Duration reconnect,
        Duration connectTimeout) {

    public static final Duration DEFAULT_CONNECT_TIMEOUT = Duration.ofSeconds(10);

    public SocketChardevSpec {
        if (id == null || id.isBlank()) {
            throw new IllegalArgumentException("socket chardev needs an id");
        }
        Objects.requireNonNull(path, () -> "chardev '" + id + "': path");
        if (reconnect != null && (reconnect.isNegative() || reconnect.isZero())) {
            throw new IllegalArgumentException("chardev '" + id + "': reconnect delay must be positive, got " + reconnect);
        }
        Objects.requireNonNull(connectTimeout, () -> "chardev '" + id + "': connectTimeout");
        if (connectTimeout.isNegative() || connectTimeout.isZero()) {
            throw new IllegalArgumentException("chardev '" + id + "': connect timeout must be positive, got " + connectTimeout);
        }
        if (!server && waitForClient) {
            throw new IllegalArgumentException("chardev '" + id + "': wait=on only applies to server=on");
        }
    }

    /** A client that connects to path (no reconnect, default timeout). */
    public static SocketChardevSpec client(String id, Path path) {
        return new SocketChardevSpec(id, path, false, false, null, DEFAULT_CONNECT_TIMEOUT);
    }

    /** A server listening on path; waitForClient as QEMU's wait=on. */
    public static SocketChardevSpec server(String id, Path path, boolean waitForClient) {
        return new SocketChardevSpec(id, path, true, waitForClient, null, DEFAULT_CONNECT_TIMEOUT);
    }

    public SocketChardevSpec withReconnect(Duration delay) {
        return new SocketChardevSpec(id, path, server, waitForClient, delay, connectTimeout);
    }

    public SocketChardevSpec withConnectTimeout(Duration timeout) {
        return new SocketChardevSpec(id, path, server, waitForClient, reconnect, timeout);
    }

    /**
     * Parses QEMU's option syntax, with or without the leading {@code socket,}:
     * {@code id=..,path=..,server=on|off,wait=on|off,reconnect=SECONDS,reconnect-ms=MS,timeout-ms=MS}.
     * QEMU's default is wait=on for a server; so is ours.
     */
    public static SocketChardevSpec parse(String options) {
        Map<String, String> kv = new LinkedHashMap<>();
        String[] parts = options.split(",");
        for (int i = 0; i < parts.length; i++) {
            String p = parts[i].trim();
            if (i == 0 && p.equals("socket")) {
                continue;
            }
            int eq = p.indexOf('=');
            if (eq <= 0) {
                throw new IllegalArgumentException("chardev options '" + options + "': '" + p + "' is not key=value");
            }
            if (kv.put(p.substring(0, eq), p.substring(eq + 1)) != null) {
                throw new IllegalArgumentException("chardev options '" + options + "': " + p.substring(0, eq) + " given twice");
            }
        }
        String id = kv.remove("id");
        String path = kv.remove("path");
        if (id == null || path == null) {
            throw new IllegalArgumentException("chardev options '" + options + "': id= and path= are required");
        }
        boolean server = onOff(options, "server", kv.remove("server"), false);
        String waitOption = kv.remove("wait");
        if (!server && waitOption != null) {
            throw new IllegalArgumentException("chardev '" + id + "': wait= is incompatible with a client (server=off)");
        }
        boolean wait = onOff(options, "wait", waitOption, server);
        Duration reconnect = null;
        String seconds = kv.remove("reconnect");
        String ms = kv.remove("reconnect-ms");
        if (seconds != null) {
            reconnect = positive(options, "reconnect", seconds, Duration::ofSeconds);
        }
        if (ms != null) {
            reconnect = positive(options, "reconnect-ms", ms, Duration::ofMillis);
        }
        String timeout = kv.remove("timeout-ms");
        Duration connectTimeout = timeout == null ? DEFAULT_CONNECT_TIMEOUT
                : positive(options, "timeout-ms", timeout, Duration::ofMillis);
        if (!kv.isEmpty()) {
            throw new IllegalArgumentException("chardev '" + id + "': unknown option(s) " + kv.keySet());
        }
        return new SocketChardevSpec(id, Path.of(path), server, server && wait, reconnect, connectTimeout);
    }

    private static boolean onOff(String options, String key, String value, boolean dflt) {
        if (value == null) {
            return dflt;
        }
        switch (value) {
            case "on": case "true": case "yes":
                return true;
            case "off": case "false": case "no":
                return false;
            default:
                throw new IllegalArgumentException("chardev options '" + options + "': " + key + "=" + value + " is not on/off");
        }
    }

    private static Duration positive(String options, String key, String value, java.util.function.LongFunction<Duration> unit) {
        try {
            long n = Long.parseLong(value);
            if (n > 0) {
                return unit.apply(n);
            }
        } catch (NumberFormatException e) {
            // fall through to the error below
        }
        throw new IllegalArgumentException("chardev options '" + options + "': " + key + "=" + value + " is not a positive number");
    }
}
