package io.jvmm.monitor.qmp;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import io.jvmm.monitor.BlockExports;
import io.jvmm.monitor.MachineEvent;
import io.jvmm.monitor.qmp.QmpCommand.Result;
import io.jvmm.platform.config.BackendConfig;
import io.jvmm.platform.registry.BackendKind;
import java.nio.file.Path;
import java.util.EnumMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The NBD export commands, in QEMU 7.2's shapes: {@code nbd-server-start} (its {@code addr} is
 * QEMU's SocketAddressLegacy: {@code {"type": "unix", "data": {"path": ...}}} or
 * {@code {"type": "inet", "data": {"host": ..., "port": "10809"}}}), {@code block-export-add}
 * ({@code type: "nbd"}), {@code block-export-del}, {@code nbd-server-stop},
 * {@code query-block-exports}; removed exports are reported as {@code BLOCK_EXPORT_DELETED}.
 */
final class BlockExportCommands {
    private final QmpContext context;

    BlockExportCommands(QmpContext context) {
        this.context = context;
    }

    Result serverStart(Arguments a) {
        if (a.optionalString("tls-creds").isPresent() || a.optionalString("tls-authz").isPresent()) {
            throw QmpError.generic("jvmm's NBD server has no TLS: drop tls-creds and tls-authz");
        }
        BlockExports.Address address = address(a.node("addr"));
        long max = a.optionalInteger("max-connections").orElse(0L);
        exports().startServer(address, max == 0 ? 100 : (int) Math.min(max, Integer.MAX_VALUE));
        return Result.empty();
    }

    /** QEMU's SocketAddressLegacy, unix or inet. */
    private static BlockExports.Address address(JsonNode addr) {
        JsonNode type = addr.get("type");
        if (type == null) {
            throw QmpError.generic("Parameter 'addr.type' is missing");
        }
        if (!type.isTextual()) {
            throw Arg.invalidType("addr.type", Arg.Type.STRING);
        }
        // QEMU's order: the members are read first (missing, wrong type), unexpected ones found last
        JsonNode data = addr.get("data");
        if (data == null) {
            throw QmpError.generic("Parameter 'addr.data' is missing");
        }
        if (!data.isObject()) {
            throw Arg.invalidType("addr.data", Arg.Type.OBJECT);
        }
        switch (type.asText()) {
            case "unix" -> {
                Path path = Path.of(string(data, "addr.data", "path"));
                unexpected(data, "addr.data", Set.of("path"));
                unexpected(addr, "addr", Set.of("type", "data"));
                return BlockExports.Address.unix(path);
            }
            case "inet" -> {
                String host = string(data, "addr.data", "host");
                String port = string(data, "addr.data", "port");
                unexpected(data, "addr.data", Set.of("host", "port"));
                unexpected(addr, "addr", Set.of("type", "data"));
                try {
                    int p = Integer.parseInt(port);
                    if (p < 0 || p > 65535) {
                        throw new NumberFormatException();
                    }
                    return BlockExports.Address.inet(host, p);
                } catch (NumberFormatException e) {
                    throw QmpError.generic("address resolution failed for " + host + ":" + port + ": jvmm takes a port number from 0 to 65535");
                }
            }
            case "vsock", "fd" -> throw QmpError.generic("jvmm's NBD server listens on 'unix' or 'inet' addresses, not '" + type.asText() + "'");
            default -> throw QmpError.generic("Parameter 'addr.type' does not accept value '" + type.asText() + "'");
        }
    }

    private static String string(JsonNode object, String where, String name) {
        JsonNode v = object.get(name);
        if (v == null) {
            throw QmpError.generic("Parameter '" + where + "." + name + "' is missing");
        }
        if (!v.isTextual()) {
            throw Arg.invalidType(where + "." + name, Arg.Type.STRING);
        }
        return v.asText();
    }

    /** QEMU's "Parameter 'X' is unexpected" for a key jvmm does not take. */
    private static void unexpected(JsonNode object, String where, Set<String> known) {
        for (Iterator<String> it = object.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            if (!known.contains(k)) {
                throw QmpError.generic("Parameter '" + where + "." + k + "' is unexpected");
            }
        }
    }

    Result serverStop(Arguments a) {
        List<String> removed = exports().stopServer();
        removed.forEach(id -> context.machine().events().emit(new MachineEvent.BlockExportDeleted(id)));
        return Result.empty();
    }

    Result exportAdd(Arguments a) {
        String type = a.string("type");
        if (!type.equals("nbd")) {
            if (List.of("vhost-user-blk", "fuse", "vduse-blk").contains(type)) {
                throw QmpError.generic("jvmm exports block nodes over NBD only (type 'nbd'), not '" + type + "'");
            }
            throw QmpError.generic("Parameter 'type' does not accept value '" + type + "'");
        }
        if (a.optionalString("iothread").isPresent()) {
            throw QmpError.generic("jvmm's NBD server serves its exports on its own threads: drop iothread");
        }
        if (!a.strings("bitmaps").isEmpty()) {
            throw QmpError.generic("jvmm's NBD server exports no dirty bitmaps: drop bitmaps");
        }
        if (Boolean.TRUE.equals(bool(a, "allocation-depth"))) {
            throw QmpError.generic("jvmm's NBD server has no qemu:allocation-depth context: drop allocation-depth");
        }
        exports().addExport(new BlockExports.ExportRequest(a.string("id"), a.string("node-name"),
                a.optionalString("name").orElse(null), Boolean.TRUE.equals(bool(a, "writable")),
                a.optionalString("description").orElse(null)), nodes());
        return Result.empty();
    }

    private static Boolean bool(Arguments a, String name) {
        JsonNode v = a.node(name);
        return v == null ? null : v.asBoolean();
    }

    Result exportDelete(Arguments a) {
        String id = a.string("id");
        String mode = a.optionalString("mode").orElse("safe");
        if (!mode.equals("safe") && !mode.equals("hard")) {
            throw QmpError.generic("Parameter 'mode' does not accept value '" + mode + "'");
        }
        exports().deleteExport(id, mode.equals("hard"));
        context.machine().events().emit(new MachineEvent.BlockExportDeleted(id));
        return Result.empty();
    }

    Result query(Arguments a) {
        ArrayNode list = QmpJson.NODES.arrayNode();
        context.machine().blockExports().ifPresent(x -> x.exports().forEach(e -> {
            var o = list.addObject();
            o.put("type", e.type());
            o.put("id", e.id());
            o.put("node-name", e.nodeName());
            o.put("shutting-down", e.shuttingDown());
        }));
        return Result.of(list);
    }

    private BlockExports exports() {
        return context.machine().blockExports().orElseThrow(() -> QmpError.generic(
                "jvmm's " + context.machine().kind() + " machine has no NBD server here (the devices module is not on its class path)"));
    }

    private Map<BackendKind, Map<String, BackendConfig<?>>> nodes() {
        Map<BackendKind, Map<String, BackendConfig<?>>> all = new EnumMap<>(BackendKind.class);
        for (BackendKind kind : List.of(BackendKind.BLOCKDEV, BackendKind.DRIVE)) {
            Map<String, BackendConfig<?>> byId = new LinkedHashMap<>();
            context.machine().backends(kind).forEach(b -> byId.put(b.id(), b));
            all.put(kind, byId);
        }
        return all;
    }
}
