package io.jvmm.devices.nbd;

import io.jvmm.devices.blk.BlockBackend;
import io.jvmm.devices.blk.BlockSource;
import io.jvmm.platform.config.BackendConfig;
import io.jvmm.platform.options.OptionList;
import io.jvmm.platform.options.UserError;
import io.jvmm.platform.registry.BackendKind;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@code -nbd-server} and {@code -export} options, shaped like qemu-storage-daemon's
 * {@code --nbd-server} and {@code --export type=nbd}:
 *
 * <pre>
 * -nbd-server addr.type=unix,addr.path=PATH[,max-connections=N][,x-nbd-listener=own-loop|main-loop]
 * -nbd-server addr.type=inet,addr.host=HOST,addr.port=PORT[,...]
 * -export type=nbd,id=ID,node-name=NODE[,name=NAME][,writable=on][,description=TEXT][,multi-conn=on|off]
 * </pre>
 *
 * {@code node-name} names a {@code -blockdev} node (or a {@code -drive} id). Started together;
 * closing stops the server and closes the exported back-ends.
 */
public final class NbdExports implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(NbdExports.class);
    public static final int DEFAULT_MAX_CONNECTIONS = 100;

    private final NbdServer server;
    private final List<BlockBackend> backends = new ArrayList<>();

    private NbdExports(NbdServer server) {
        this.server = server;
    }

    public NbdServer server() {
        return server;
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
        if (max < 1 || max > 10_000) {
            throw new UserError("-nbd-server: max-connections=" + max + " is not allowed (from 1 to 10000)");
        }
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
     * Starts the server and its exports. {@code nodes} are the configuration's back-ends
     * ({@code -blockdev} nodes and {@code -drive}s) that {@code node-name} may name.
     *
     * @throws UserError naming the option at fault; nothing is left running
     */
    public static NbdExports start(String serverText, List<String> exportTexts, Map<BackendKind, Map<String, BackendConfig<?>>> nodes) {
        ServerOptions so = parseServer(serverText);
        List<ExportOptions> eos = new ArrayList<>();
        for (String t : exportTexts) {
            eos.add(parseExport(t));
        }
        NbdServer server;
        try {
            server = NbdServer.start(so.id(), so.address(), so.listener(), so.maxConnections());
        } catch (IllegalArgumentException e) {
            throw new UserError("-nbd-server: " + e.getMessage(), e);
        }
        NbdExports all = new NbdExports(server);
        try {
            for (ExportOptions eo : eos) {
                all.add(eo, nodes);
            }
            return all;
        } catch (RuntimeException e) {
            all.close();
            throw e;
        }
    }

    private void add(ExportOptions eo, Map<BackendKind, Map<String, BackendConfig<?>>> nodes) {
        String where = "-export " + eo.id();
        BackendConfig<?> node = nodes.getOrDefault(BackendKind.BLOCKDEV, Map.of()).get(eo.nodeName());
        if (node == null) {
            node = nodes.getOrDefault(BackendKind.DRIVE, Map.of()).get(eo.nodeName());
        }
        if (node == null || !(node.options() instanceof BlockSource src)) {
            throw new UserError(where + ": node-name '" + eo.nodeName() + "' is not a -blockdev node-name");
        }
        if (eo.writable() && src.readOnly()) {
            throw new UserError(where + ": writable=on but " + src.where() + " is read-only");
        }
        BlockBackend b = src.open("export '" + eo.name() + "'");
        try {
            server.addExport(new NbdExport(eo.name(), eo.description(), b, eo.writable(), eo.multiConn() == null || eo.multiConn()));
        } catch (IllegalArgumentException e) {
            b.close();
            throw new UserError(where + ": " + e.getMessage(), e);
        }
        backends.add(b);
    }

    @Override
    public void close() {
        server.close();
        for (BlockBackend b : backends) {
            try {
                b.close();
            } catch (RuntimeException e) {
                log.warn("closing {}: {}", b.describe(), e.toString());
            }
        }
        backends.clear();
    }
}
