package io.jvmm.devices.nbd;

import io.jvmm.devices.blk.BlockBackend;
import io.jvmm.devices.blk.BlockSource;
import io.jvmm.monitor.BlockExports;
import io.jvmm.platform.config.BackendConfig;
import io.jvmm.platform.options.OptionList;
import io.jvmm.platform.options.UserError;
import io.jvmm.platform.registry.BackendKind;
import io.micrometer.core.instrument.MeterRegistry;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A machine's NBD server and exports: what {@code -nbd-server} and {@code -export} start (shaped
 * like qemu-storage-daemon's {@code --nbd-server} and {@code --export type=nbd}) and what QMP's
 * {@code nbd-server-start}, {@code block-export-add}, {@code block-export-del} and
 * {@code nbd-server-stop} change ({@link BlockExports}), the same server and exports either way:
 *
 * <pre>
 * -nbd-server addr.type=unix,addr.path=PATH[,max-connections=N][,x-nbd-listener=own-loop|main-loop]
 * -nbd-server addr.type=inet,addr.host=HOST,addr.port=PORT[,...]
 * -export type=nbd,id=ID,node-name=NODE[,name=NAME][,writable=on][,description=TEXT][,multi-conn=on|off]
 * </pre>
 *
 * {@code node-name} names a {@code -blockdev} node (or a {@code -drive} id). Each export opens its
 * own back-end, closed when the export is removed; closing stops the server and closes them all.
 * QMP's refusals carry QEMU 7.2's texts.
 */
public final class NbdExports implements BlockExports {
    private static final Logger log = LoggerFactory.getLogger(NbdExports.class);
    public static final int DEFAULT_MAX_CONNECTIONS = 100;

    /** An export and the back-end it opened. */
    private record Entry(ExportOptions options, BlockBackend backend) {
    }

    private NbdServer server;
    private final Map<String, Entry> exports = new LinkedHashMap<>();   // by id, in the order added
    private MeterRegistry registry;

    /** No server yet: {@link #startServer} or QMP's nbd-server-start starts one. */
    public NbdExports() {
    }

    /** The server, or null while none runs. */
    public synchronized NbdServer server() {
        return server;
    }

    /** Binds the running server's meters, and those of every server started later, to {@code registry}. */
    public synchronized void bindMetrics(MeterRegistry registry) {
        this.registry = registry;
        if (server != null) {
            server.metrics().bindTo(registry);
        }
    }

    /** The parsed {@code -nbd-server}. */
    public record ServerOptions(String id, NbdAddress address, int maxConnections, NbdServer.Listener listener) {
    }

    /** A parsed {@code -export type=nbd}. */
    public record ExportOptions(String id, String nodeName, String name, boolean writable, String description, Boolean multiConn) {
    }

    public static ServerOptions parseServer(String text) {
        OptionList o = OptionList.parse("-nbd-server", text, null);
        String type = o.required("addr.type");
        NbdAddress a;
        try {
            switch (type) {
                case "unix" -> a = NbdAddress.unix(Path.of(o.required("addr.path")));
                case "inet" -> a = NbdAddress.tcp(o.required("addr.host"), (int) o.number("addr.port", NbdAddress.DEFAULT_PORT));
                default -> throw new UserError("-nbd-server: addr.type=" + type + " is not allowed (unix or inet)");
            }
        } catch (IllegalArgumentException e) {
            throw new UserError("-nbd-server: " + e.getMessage());
        }
        long max = o.number("max-connections", DEFAULT_MAX_CONNECTIONS);
        checkMaxConnections("-nbd-server", max);
        NbdServer.Listener l;
        try {
            l = NbdServer.Listener.parse("-nbd-server", o.string("x-nbd-listener", NbdServer.Listener.OWN_LOOP.text()));
        } catch (IllegalArgumentException e) {
            throw new UserError(e.getMessage());
        }
        String id = o.string("id", "nbd-server");
        o.finish(Set.of("addr.type", "addr.path", "addr.host", "addr.port", "max-connections", "x-nbd-listener", "id"));
        return new ServerOptions(id, a, (int) max, l);
    }

    private static void checkMaxConnections(String where, long max) {
        if (max < 1 || max > 10_000) {
            throw new UserError(where + ": max-connections=" + max + " is not allowed (from 1 to 10000)");
        }
    }

    public static ExportOptions parseExport(String text) {
        OptionList o = OptionList.parse("-export", text, "type");
        if (!o.head().equals("nbd")) {
            throw new UserError("-export type=" + o.head() + " is not supported (type=nbd)");
        }
        String id = o.required("id");
        String node = o.required("node-name");
        String name = o.string("name", node);
        boolean writable = o.bool("writable", false);
        String description = o.string("description", null);
        String mc = o.string("multi-conn", null);
        Boolean multiConn = mc == null || mc.equals("auto") ? null : OptionList.parse("-export", "x=" + mc, null).bool("x", true);
        o.finish(Set.of("type", "id", "node-name", "name", "writable", "description", "multi-conn"));
        return new ExportOptions(id, node, name, writable, description, multiConn);
    }

    /**
     * Starts {@code -nbd-server} (null: none) and its {@code -export}s. {@code nodes} are the
     * configuration's back-ends ({@code -blockdev} nodes and {@code -drive}s) that {@code node-name}
     * may name.
     *
     * @throws UserError naming the option at fault; nothing is left running
     */
    public static NbdExports start(String serverText, List<String> exportTexts, Map<BackendKind, Map<String, BackendConfig<?>>> nodes) {
        NbdExports all = new NbdExports();
        if (serverText == null) {
            if (!exportTexts.isEmpty()) {
                throw new UserError("-export needs -nbd-server");
            }
            return all;
        }
        ServerOptions so = parseServer(serverText);
        List<ExportOptions> eos = new ArrayList<>();
        for (String t : exportTexts) {
            eos.add(parseExport(t));
        }
        try {
            all.startServer(so, "-nbd-server: ");
            for (ExportOptions eo : eos) {
                all.add(eo, nodes, "-export " + eo.id() + ": ");
            }
            return all;
        } catch (RuntimeException e) {
            all.close();
            throw e;
        }
    }

    private synchronized void startServer(ServerOptions so, String where) {
        if (server != null) {
            throw new UserError(where + "NBD server already running");
        }
        try {
            server = NbdServer.start(so.id(), so.address(), so.listener(), so.maxConnections());
        } catch (IllegalArgumentException e) {
            throw new UserError(where + e.getMessage(), e);
        }
        if (registry != null) {
            server.metrics().bindTo(registry);
        }
    }

    private synchronized void add(ExportOptions eo, Map<BackendKind, Map<String, BackendConfig<?>>> nodes, String where) {
        if (server == null) {
            throw new UserError(where + "NBD server not running");
        }
        if (exports.containsKey(eo.id())) {
            throw new UserError(where + "Block export id '" + eo.id() + "' is already in use");
        }
        BackendConfig<?> node = nodes.getOrDefault(BackendKind.BLOCKDEV, Map.of()).get(eo.nodeName());
        if (node == null) {
            node = nodes.getOrDefault(BackendKind.DRIVE, Map.of()).get(eo.nodeName());
        }
        if (node == null || !(node.options() instanceof BlockSource src)) {
            throw new UserError(where + "Cannot find device='' nor node-name='" + eo.nodeName() + "'");
        }
        if (server.export(eo.name()) != null) {
            throw new UserError(where + "NBD server already has export named '" + eo.name() + "'");
        }
        if (eo.writable() && src.readOnly()) {
            throw new UserError(where + "writable=on but " + src.where() + " is read-only");
        }
        BlockBackend b = src.open("export '" + eo.name() + "'");
        try {
            server.addExport(new NbdExport(eo.name(), eo.description(), b, eo.writable(), eo.multiConn() == null || eo.multiConn()));
        } catch (IllegalArgumentException e) {
            b.close();
            throw new UserError(where + e.getMessage(), e);
        }
        exports.put(eo.id(), new Entry(eo, b));
    }

    // ---- BlockExports (QMP) ----------------------------------------------------------------

    @Override
    public void startServer(Address address, int maxConnections) {
        checkMaxConnections("nbd-server-start", maxConnections);
        NbdAddress a;
        try {
            a = address.unixPath() != null ? NbdAddress.unix(address.unixPath()) : NbdAddress.tcp(address.host(), address.port());
        } catch (IllegalArgumentException e) {
            throw new UserError(e.getMessage());
        }
        startServer(new ServerOptions("nbd-server", a, maxConnections, NbdServer.Listener.OWN_LOOP), "");
    }

    @Override
    public synchronized boolean serverRunning() {
        return server != null;
    }

    @Override
    public synchronized Address serverAddress() {
        if (server == null) {
            return null;
        }
        NbdAddress a = server.address();
        return a.isUnix() ? Address.unix(a.unixPath()) : Address.inet(a.host(), a.port());
    }

    @Override
    public synchronized List<String> stopServer() {
        if (server == null) {
            throw new UserError("NBD server not running");
        }
        List<String> ids = List.copyOf(exports.keySet());
        for (String id : ids) {
            remove(id, true);
        }
        server.close();
        server = null;
        return ids;
    }

    @Override
    public void addExport(ExportRequest r, Map<BackendKind, Map<String, BackendConfig<?>>> nodes) {
        add(new ExportOptions(r.id(), r.nodeName(), r.name() == null ? r.nodeName() : r.name(), r.writable(), r.description(), null),
                nodes, "");
    }

    @Override
    public synchronized void deleteExport(String id, boolean hard) {
        if (!exports.containsKey(id)) {
            throw new UserError("Export '" + id + "' is not found");
        }
        remove(id, hard);
    }

    /** Removes export {@code id} from the server and closes its back-end. */
    private void remove(String id, boolean hard) {
        Entry e = exports.get(id);
        try {
            server.removeExport(e.options().name(), hard);
        } catch (IllegalStateException inUse) {
            throw new UserError("export '" + id + "' still in use (" + inUse.getMessage() + "; mode 'hard' disconnects them)");
        }
        exports.remove(id);
        closeBackend(e.backend());
    }

    @Override
    public synchronized List<ExportInfo> exports() {
        List<ExportInfo> out = new ArrayList<>();
        exports.forEach((id, e) -> out.add(new ExportInfo(id, "nbd", e.options().nodeName(), false)));
        return out;
    }

    @Override
    public synchronized void close() {
        if (server != null) {
            server.close();
            server = null;
        }
        for (Entry e : exports.values()) {
            closeBackend(e.backend());
        }
        exports.clear();
    }

    private static void closeBackend(BlockBackend b) {
        try {
            b.close();
        } catch (RuntimeException e) {
            log.warn("closing {}: {}", b.describe(), e.toString());
        }
    }

    /** The {@link BlockExports.Factory} of the devices module (found through ServiceLoader). */
    public static final class Factory implements BlockExports.Factory {
        @Override
        public BlockExports create() {
            return new NbdExports();
        }
    }
}
