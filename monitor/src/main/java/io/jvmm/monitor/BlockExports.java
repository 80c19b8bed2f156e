package io.jvmm.monitor;

import io.jvmm.platform.config.BackendConfig;
import io.jvmm.platform.registry.BackendKind;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.ServiceLoader;

/**
 * The NBD server and exports of a machine, as QMP drives them ({@code nbd-server-start},
 * {@code block-export-add}, {@code block-export-del}, {@code nbd-server-stop},
 * {@code query-block-exports}) and as {@code -nbd-server}/{@code -export} start them: one server
 * and one set of exports per machine, whichever way they were made. Implemented by the devices
 * module's NBD server ({@link Factory} through {@link ServiceLoader}).
 *
 * <p>Refusals throw {@link io.jvmm.platform.options.UserError} with QEMU's text where QEMU has one;
 * a refused call changes nothing. Called by one thread at a time (a monitor's dispatch thread).
 */
public interface BlockExports extends AutoCloseable {
    /** Where the server listens: a Unix socket path, or a TCP host and port (0: any free port). */
    record Address(Path unixPath, String host, int port) {
        public static Address unix(Path path) {
            return new Address(Objects.requireNonNull(path, "path"), null, 0);
        }

        public static Address inet(String host, int port) {
            return new Address(null, Objects.requireNonNull(host, "host"), port);
        }
    }

    /**
     * One export to add: {@code nodeName} names a {@code -blockdev} node (or a {@code -drive} id);
     * {@code name} is what NBD clients ask for (null: the node name).
     */
    record ExportRequest(String id, String nodeName, String name, boolean writable, String description) {
        public ExportRequest {
            Objects.requireNonNull(id, "id");
            Objects.requireNonNull(nodeName, "nodeName");
        }
    }

    /** An export as {@code query-block-exports} shows it. */
    record ExportInfo(String id, String type, String nodeName, boolean shuttingDown) {
    }

    /**
     * Starts the server.
     *
     * @throws io.jvmm.platform.options.UserError "NBD server already running", or why it cannot listen
     */
    void startServer(Address address, int maxConnections);

    /** Whether a server is running. */
    boolean serverRunning();

    /** Where the running server listens (a TCP port 0 resolved), or null. */
    Address serverAddress();

    /**
     * Stops the server; every export is removed first, its clients disconnected.
     *
     * @return the ids of the exports removed, in the order they were added
     * @throws io.jvmm.platform.options.UserError "NBD server not running"
     */
    List<String> stopServer();

    /**
     * Exports a block node. {@code nodes} are the machine's back-ends by kind and id.
     *
     * @throws io.jvmm.platform.options.UserError no server, an id or a name in use, no such node, a read-only node written
     */
    void addExport(ExportRequest request, Map<BackendKind, Map<String, BackendConfig<?>>> nodes);

    /**
     * Removes export {@code id}. Without {@code hard}, an export a client is connected to is refused
     * (QEMU's "safe" mode); with it, its clients are disconnected.
     *
     * @throws io.jvmm.platform.options.UserError no such export, or still in use
     */
    void deleteExport(String id, boolean hard);

    /** The exports, in the order they were added. */
    List<ExportInfo> exports();

    /** Stops the server if it runs and closes every exported back-end. */
    @Override
    void close();

    /** Makes a machine's (empty) {@link BlockExports}; the devices module provides one. */
    interface Factory {
        BlockExports create();
    }

    /** A new {@link BlockExports} from the first {@link Factory} on the class path, or null if there is none. */
    static BlockExports createIfAvailable() {
        return ServiceLoader.load(Factory.class).findFirst().map(Factory::create).orElse(null);
    }
}
