package io.jvmm.emulator.metrics;

import io.jvmm.platform.options.OptionList;
import io.jvmm.platform.options.UserError;
import java.util.Set;

/**
 * {@code -metrics prometheus[,host=ADDRESS][,port=PORT]}: where jvmm serves its meters in
 * Prometheus's text exposition format (GET /metrics). The host defaults to the loopback address,
 * so nothing outside the machine can read them unless asked; port 0 (the default) takes a free
 * port, which jvmm prints.
 */
public record MetricsOptions(String host, int port) {
    public static final String DEFAULT_HOST = "127.0.0.1";
    private static final Set<String> PROPERTIES = Set.of("host", "port");

    public MetricsOptions {
        if (host == null || host.isBlank()) {
            throw new UserError("-metrics: host= must name an address, e.g. host=127.0.0.1");
        }
        if (port < 0 || port > 65535) {
            throw new UserError("-metrics: port=" + port + " is not allowed (0 for any free port, or 1 to 65535)");
        }
    }

    /** Parses the option's value, refusing unknown formats and properties by name. */
    public static MetricsOptions parse(String text) {
        OptionList list = OptionList.parse("-metrics", text, "format");
        if (!list.head().equals("prometheus")) {
            throw new UserError("-metrics " + text + ": unknown format '" + list.head() + "' (supported: prometheus)");
        }
        String host = list.string("host", DEFAULT_HOST);
        long port = list.number("port", 0);
        list.finish(PROPERTIES);
        if (port < 0 || port > 65535) {
            throw new UserError("-metrics " + text + ": port=" + port + " is not allowed (0 for any free port, or 1 to 65535)");
        }
        return new MetricsOptions(host, (int) port);
    }
}
