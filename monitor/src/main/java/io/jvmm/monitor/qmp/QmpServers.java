package io.jvmm.monitor.qmp;

import io.jvmm.monitor.MonitoredMachine;
import io.jvmm.platform.registry.Registry;
import java.util.ArrayList;
import java.util.List;

/** The QMP servers of one machine ({@code -qmp} may be given several times), started and closed together. */
public final class QmpServers implements AutoCloseable {
    private final List<QmpServer> servers;

    private QmpServers(List<QmpServer> servers) {
        this.servers = List.copyOf(servers);
    }

    /** Parses every {@code -qmp} value first, so a mistake is found before anything is created. */
    public static List<QmpEndpoint> parse(List<String> specs) {
        return specs.stream().map(QmpEndpoint::parse).toList();
    }

    /** Starts a server on each endpoint; if one cannot start, those started are closed. */
    public static QmpServers start(List<QmpEndpoint> endpoints, MonitoredMachine machine) {
        List<QmpServer> started = new ArrayList<>();
        try {
            for (QmpEndpoint e : endpoints) {
                started.add(QmpServer.start(e, machine, Registry.load(), JsonSplitter.DEFAULT_MAX_MESSAGE));
            }
            return new QmpServers(started);
        } catch (RuntimeException e) {
            started.forEach(QmpServer::close);
            throw e;
        }
    }

    public List<QmpServer> servers() {
        return servers;
    }

    @Override
    public void close() {
        servers.forEach(QmpServer::close);
    }
}
