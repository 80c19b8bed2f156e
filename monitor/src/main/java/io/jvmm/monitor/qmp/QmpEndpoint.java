package io.jvmm.monitor.qmp;

import io.jvmm.platform.options.OptionList;
import io.jvmm.platform.options.UserError;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;

/**
 * Where a QMP server listens, from QEMU's {@code -qmp} syntax: {@code unix:PATH,server=on,wait=off}
 * or {@code tcp:HOST:PORT,server=on,wait=off} (HOST a loopback address: QMP has no authentication;
 * PORT 0 picks a free one). jvmm is always the server and never waits for a client, so
 * {@code server=on} (or the bare {@code server}) and {@code wait=off} (or {@code nowait}) are
 * required; anything else is refused with the reason.
 */
public sealed interface QmpEndpoint {
    /** A Unix socket (made owner-only). */
    record Unix(Path path) implements QmpEndpoint {
        public Unix {
            Objects.requireNonNull(path, "path");
        }

        @Override
        public String filename() {
            return "unix:" + path + ",server=on";
        }
    }

    /** A TCP socket on a loopback address. */
    record Tcp(String host, int port) implements QmpEndpoint {
        public Tcp {
            Objects.requireNonNull(host, "host");
            if (port < 0 || port > 65535) {
                throw new IllegalArgumentException("port " + port + " is not 0..65535");
            }
        }

        @Override
        public String filename() {
            return "tcp:" + host + ":" + port + ",server=on";
        }
    }

    /** As QEMU describes a socket chardev ({@code query-chardev}'s filename). */
    String filename();

    /**
     * Parses a {@code -qmp} value.
     *
     * @throws UserError naming what is not supported and what to write instead
     */
    static QmpEndpoint parse(String text) {
        String where = "-qmp " + text;
        List<String> parts = OptionList.split(text);
        String address = parts.get(0);
        if (!address.startsWith("unix:") && !address.startsWith("tcp:")) {
            throw new UserError(where + ": only unix:PATH and tcp:HOST:PORT are supported");
        }
        boolean server = false;
        boolean waitOff = false;
        for (String option : parts.subList(1, parts.size())) {
            switch (option) {
                case "server", "server=on" -> server = true;
                case "server=off" -> throw new UserError(where + ": jvmm's QMP is always a server; give server=on");
                case "nowait", "wait=off" -> waitOff = true;
                case "wait=on" -> throw new UserError(where + ": jvmm does not wait for a QMP client before starting; give wait=off");
                default -> throw new UserError(where + ": '" + option + "' is not supported (only server=on and wait=off)");
            }
        }
        if (!server) {
            throw new UserError(where + ": jvmm's QMP only listens; add server=on,wait=off");
        }
        if (!waitOff) {
            throw new UserError(where + ": jvmm does not wait for a QMP client before starting; add wait=off");
        }
        if (address.startsWith("unix:")) {
            String path = address.substring("unix:".length());
            if (path.isEmpty()) {
                throw new UserError(where + ": no socket path after unix:");
            }
            return new Unix(Path.of(path));
        }
        if (address.startsWith("tcp:")) {
            String hostPort = address.substring("tcp:".length());
            int colon = hostPort.lastIndexOf(':');
            if (colon < 0) {
                throw new UserError(where + ": give tcp:HOST:PORT");
            }
            String host = hostPort.substring(0, colon);
            if (host.startsWith("[") && host.endsWith("]")) {
                host = host.substring(1, host.length() - 1);
            }
            int port;
            try {
                port = Integer.parseInt(hostPort.substring(colon + 1));
            } catch (NumberFormatException e) {
                throw new UserError(where + ": '" + hostPort.substring(colon + 1) + "' is not a port number");
            }
            if (port < 0 || port > 65535) {
                throw new UserError(where + ": port " + port + " is not 0..65535");
            }
            requireLoopback(where, host);
            return new Tcp(host, port);
        }
        throw new UserError(where + ": only unix:PATH and tcp:HOST:PORT are supported");
    }

    private static void requireLoopback(String where, String host) {
        try {
            if (host.isEmpty() || !InetAddress.getByName(host).isLoopbackAddress()) {
                throw new UserError(where + ": QMP has no authentication, so jvmm listens on loopback only (e.g. 127.0.0.1), not '"
                        + host + "'");
            }
        } catch (UnknownHostException e) {
            throw new UserError(where + ": unknown host '" + host + "'");
        }
    }
}
