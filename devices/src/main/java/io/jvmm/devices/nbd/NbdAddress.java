package io.jvmm.devices.nbd;

import io.netty.channel.unix.DomainSocketAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.file.Path;
import java.util.Objects;

/** Where an NBD server listens or a client connects: a Unix socket path, or a TCP host and port. */
public record NbdAddress(Path unixPath, String host, int port) {
    public static final int DEFAULT_PORT = 10809;

    public NbdAddress {
        if ((unixPath == null) == (host == null)) {
            throw new IllegalArgumentException("an NBD address is a Unix socket path or a TCP host, not both or neither");
        }
        if (host != null && (port < 0 || port > 65535)) {
            throw new IllegalArgumentException("NBD port " + port + " is not from 0 to 65535");
        }
    }

    public static NbdAddress unix(Path path) {
        return new NbdAddress(Objects.requireNonNull(path, "path"), null, 0);
    }

    public static NbdAddress tcp(String host, int port) {
        return new NbdAddress(null, Objects.requireNonNull(host, "host"), port);
    }

    public boolean isUnix() {
        return unixPath != null;
    }

    public SocketAddress socketAddress() {
        return isUnix() ? new DomainSocketAddress(unixPath.toString()) : new InetSocketAddress(host, port);
    }

    @Override
    public String toString() {
        return isUnix() ? "unix:" + unixPath : (host.contains(":") ? "[" + host + "]" : host) + ":" + port;
    }
}
