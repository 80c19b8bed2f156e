package io.jvmm.monitor.qmp;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import io.jvmm.monitor.MonitoredDevice;
import io.jvmm.monitor.qmp.QmpCommand.Result;
import io.jvmm.platform.BuiltDevice;
import io.jvmm.platform.options.UserError;
import io.jvmm.platform.registry.BackendOptions;
import io.jvmm.platform.registry.Property;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * {@code qom-list}, {@code qom-get}, {@code qom-set} over the part of QEMU's object tree jvmm has:
 * {@code /}, {@code /machine}, {@code /machine/peripheral} and one node per device
 * ({@code /machine/peripheral/ID}, also reached by the partial path {@code ID}). A device's
 * properties are its type's {@link Property} declarations, with the values it was built with;
 * those declared {@link Property#settableAtRunTime settable at run time} can be changed, the
 * others are refused as QEMU refuses a property of a realized device.
 */
final class Qom {
    private static final String MACHINE = "/machine";

    private final QmpContext context;
    /** Values changed by qom-set, per device (the built device: an id can come back as another device). */
    private final Map<BuiltDevice, Map<String, Object>> changed = new HashMap<>();

    Qom(QmpContext context) {
        this.context = context;
    }

    /** A node of the tree: a container, or a device. */
    private record Node(String path, String type, Map<String, String> children, MonitoredDevice device) {
    }

    Result list(Arguments a) {
        Node node = resolve(a.string("path"));
        ArrayNode list = QmpJson.NODES.arrayNode();
        add(list, "type", "string");
        if (node.device() == null) {
            node.children().forEach((name, type) -> add(list, name, "child<" + type + ">"));
            return Result.of(list);
        }
        add(list, "realized", "bool");
        add(list, "hotplugged", "bool");
        add(list, "hotpluggable", "bool");
        for (Property<?> p : node.device().config().type().properties()) {
            add(list, p.name(), qomType(p));
        }
        return Result.of(list);
    }

    Result get(Arguments a) {
        Node node = resolve(a.string("path"));
        String name = a.string("property");
        if (name.equals("type")) {
            return Result.of(QmpJson.NODES.textNode(node.type()));
        }
        MonitoredDevice d = device(node, name);
        switch (name) {
            case "realized":
                return Result.of(QmpJson.NODES.booleanNode(true));
            case "hotplugged":
                return Result.of(QmpJson.NODES.booleanNode(d.hotplugged()));
            case "hotpluggable":
                return Result.of(QmpJson.NODES.booleanNode(context.machine().hotPlug().isPresent()));
            default:
                Property<?> p = property(d, name);
                return Result.of(json(p, current(d, p)));
        }
    }

    Result set(Arguments a) {
        Node node = resolve(a.string("path"));
        String name = a.string("property");
        JsonNode value = a.node("value");
        if (node.device() == null) {
            throw QmpError.generic("Property '" + node.type() + "." + name + "' not found");
        }
        MonitoredDevice d = node.device();
        if (name.equals("type") || name.equals("hotplugged") || name.equals("hotpluggable") || name.equals("realized")) {
            throw QmpError.generic("Property '" + d.driver() + "." + name + "' is not writable");
        }
        Property<?> p = property(d, name);
        if (!p.isSettableAtRunTime()) {
            throw QmpError.generic("Attempt to set property '" + name + "' on device '" + d.id() + "' (type '" + d.driver()
                    + "') after it was realized");
        }
        Object applied = apply(d, p, value);
        synchronized (changed) {
            changed.keySet().retainAll(present());
            changed.computeIfAbsent(d.device(), k -> new LinkedHashMap<>()).put(name, applied);
        }
        return Result.empty();
    }

    private <T> T apply(MonitoredDevice d, Property<T> p, JsonNode value) {
        String text;
        if (p.typeName().equals("bool")) {
            if (!value.isBoolean()) {
                throw Arg.invalidType("value", Arg.Type.BOOLEAN);
            }
            text = value.asBoolean() ? "on" : "off";
        } else if (p.typeName().equals("str")) {
            if (!value.isTextual()) {
                throw Arg.invalidType("value", Arg.Type.STRING);
            }
            text = value.asText();
        } else {
            if (!value.isIntegralNumber()) {
                throw Arg.invalidType("value", Arg.Type.INTEGER);
            }
            text = value.asText();
        }
        String owner = d.config().type().describe(d.id());
        try {
            T typed = p.parseText(owner, text);
            p.setAtRunTime(owner, d.device(), typed);
            return typed;
        } catch (UserError e) {
            throw QmpError.generic(e.getMessage());
        }
    }

    private Set<BuiltDevice> present() {
        Set<BuiltDevice> all = new HashSet<>();
        context.machine().monitoredDevices().forEach(d -> all.add(d.device()));
        return all;
    }

    private Object current(MonitoredDevice d, Property<?> p) {
        synchronized (changed) {
            Map<String, Object> values = changed.get(d.device());
            if (values != null && values.containsKey(p.name())) {
                return values.get(p.name());
            }
        }
        return d.config().value(p);
    }

    private static MonitoredDevice device(Node node, String property) {
        if (node.device() == null) {
            throw QmpError.generic("Property '" + node.type() + "." + property + "' not found");
        }
        return node.device();
    }

    private static Property<?> property(MonitoredDevice d, String name) {
        return d.config().property(name)
                .orElseThrow(() -> QmpError.generic("Property '" + d.driver() + "." + name + "' not found"));
    }

    /** QOM's name for a property's type: "str", "bool", "uint16", "size", a link for memory back-ends. */
    static String qomType(Property<?> p) {
        if (p.isBackendReference()) {
            return p.typeName().startsWith("object") ? "link<memory-backend>" : "str";
        }
        return switch (p.typeName()) {
            case "str", "bool", "size", "uint8", "uint16", "uint32", "uint64", "int32", "int64" -> p.typeName();
            default -> "uint64";
        };
    }

    /** A property's value as qom-get returns it: a back-end by its id, a missing value as its type's zero. */
    static JsonNode json(Property<?> p, Object value) {
        if (value instanceof BackendOptions b) {
            return QmpJson.NODES.textNode(b.id());
        }
        if (value instanceof Boolean b) {
            return QmpJson.NODES.booleanNode(b);
        }
        if (value instanceof Integer i) {
            return QmpJson.NODES.numberNode(i);
        }
        if (value instanceof Long l) {
            return QmpJson.NODES.numberNode(l);
        }
        if (value != null) {
            return QmpJson.NODES.textNode(String.valueOf(value));
        }
        return switch (qomType(p)) {
            case "bool" -> QmpJson.NODES.booleanNode(false);
            case "str" -> QmpJson.NODES.textNode("");
            case "link<memory-backend>" -> QmpJson.NODES.textNode("");
            default -> QmpJson.NODES.numberNode(0);
        };
    }

    /** An absolute path, or a partial one (QEMU's: the unique node whose path ends with it). */
    private Node resolve(String path) {
        Map<String, Node> nodes = nodes();
        Node exact = nodes.get(path);
        if (exact != null) {
            return exact;
        }
        if (!path.startsWith("/") && !path.isEmpty()) {
            List<Node> matches = new ArrayList<>();
            for (Node n : nodes.values()) {
                if (n.path().endsWith("/" + path)) {
                    matches.add(n);
                }
            }
            if (matches.size() == 1) {
                return matches.get(0);
            }
            if (matches.size() > 1) {
                throw QmpError.generic("Path '" + path + "' does not uniquely identify an object");
            }
        }
        throw QmpError.deviceNotFound(path);
    }

    private Map<String, Node> nodes() {
        String machineType = "jvmm-" + context.machine().kind() + "-machine";
        Map<String, String> peripherals = new LinkedHashMap<>();
        Map<String, Node> nodes = new LinkedHashMap<>();
        for (MonitoredDevice d : context.machine().monitoredDevices()) {
            peripherals.put(d.id(), d.driver());
            nodes.put(d.path(), new Node(d.path(), d.driver(), Map.of(), d));
        }
        nodes.put("/", new Node("/", "container", Map.of("machine", machineType), null));
        nodes.put(MACHINE, new Node(MACHINE, machineType, Map.of("peripheral", "container"), null));
        nodes.put(MonitoredDevice.PERIPHERAL, new Node(MonitoredDevice.PERIPHERAL, "container", peripherals, null));
        return nodes;
    }

    private static void add(ArrayNode list, String name, String type) {
        var info = list.addObject();
        info.put("name", name);
        info.put("type", type);
    }

    /** For the HMP tree: a device's properties with their current values. */
    Map<Property<?>, Object> values(MonitoredDevice d) {
        Map<Property<?>, Object> out = new LinkedHashMap<>();
        for (Property<?> p : d.config().type().properties()) {
            out.put(p, current(d, p));
        }
        return out;
    }

    Optional<MonitoredDevice> find(String id) {
        return context.device(id);
    }
}
