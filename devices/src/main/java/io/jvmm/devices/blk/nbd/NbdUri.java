package io.jvmm.devices.blk.nbd;

import io.jvmm.devices.nbd.NbdAddress;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * An NBD URI as QEMU and libnbd write them: {@code nbd://HOST[:PORT]/EXPORT},
 * {@code nbd+tcp://...} and {@code nbd+unix:///EXPORT?socket=PATH}. TLS ({@code nbds...}) is not
 * supported.
 */
public record NbdUri(NbdAddress address, String export) {
    public static boolean looksLikeOne(String text) {
        return text.startsWith("nbd:") || text.startsWith("nbd+unix:") || text.startsWith("nbd+tcp:")
                || text.startsWith("nbds:") || text.startsWith("nbds+");
    }

    /** @throws IllegalArgumentException saying what is wrong with {@code text} */
    public static NbdUri parse(String text) {
        URI u;
        try {
            u = new URI(text);
        } catch (URISyntaxException e) {
            throw new IllegalArgumentException("'" + text + "' is not a valid NBD URI: " + e.getMessage());
        }
        String scheme = u.getScheme();
        if (scheme == null) {
            throw new IllegalArgumentException("'" + text + "' is not an NBD URI (nbd://HOST:PORT/EXPORT or nbd+unix:///EXPORT?socket=PATH)");
        }
        if (scheme.startsWith("nbds")) {
            throw new IllegalArgumentException("'" + text + "': NBD over TLS is not supported");
        }
        String path = u.getRawPath() == null ? "" : u.getRawPath();
        String export = path.startsWith("/") ? decode(path.substring(1)) : decode(path);
        switch (scheme) {
            case "nbd", "nbd+tcp" -> {
                if (u.getHost() == null) {
                    throw new IllegalArgumentException("'" + text + "': no host (nbd://HOST[:PORT]/EXPORT)");
                }
                if (u.getRawQuery() != null) {
                    throw new IllegalArgumentException("'" + text + "': a TCP NBD URI takes no query");
                }
                String host = u.getHost().startsWith("[") ? u.getHost().substring(1, u.getHost().length() - 1) : u.getHost();
                return new NbdUri(NbdAddress.tcp(host, u.getPort() < 0 ? NbdAddress.DEFAULT_PORT : u.getPort()), export);
            }
            case "nbd+unix" -> {
                if (u.getHost() != null || u.getRawAuthority() != null) {
                    throw new IllegalArgumentException("'" + text + "': a Unix NBD URI has no host (nbd+unix:///EXPORT?socket=PATH)");
                }
                String q = u.getRawQuery();
                String socket = null;
                if (q != null) {
                    for (String kv : q.split("&")) {
                        int eq = kv.indexOf('=');
                        String k = eq < 0 ? kv : kv.substring(0, eq);
                        if (k.equals("socket")) {
                            socket = decode(kv.substring(eq + 1));
                        } else {
                            throw new IllegalArgumentException("'" + text + "': unknown query parameter '" + k + "'");
                        }
                    }
                }
                if (socket == null || socket.isEmpty()) {
                    throw new IllegalArgumentException("'" + text + "': no socket (nbd+unix:///EXPORT?socket=PATH)");
                }
                return new NbdUri(NbdAddress.unix(Path.of(socket)), export);
            }
            default -> throw new IllegalArgumentException("'" + text + "': unknown NBD URI scheme '" + scheme + "'");
        }
    }

    private static String decode(String s) {
        return URLDecoder.decode(s.replace("+", "%2B"), StandardCharsets.UTF_8);
    }

    @Override
    public String toString() {
        return address.isUnix() ? "nbd+unix:///" + export + "?socket=" + address.unixPath()
                : "nbd://" + address + "/" + export;
    }
}
