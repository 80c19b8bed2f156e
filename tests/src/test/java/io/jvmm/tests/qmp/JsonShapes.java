package io.jvmm.tests.qmp;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.TreeSet;

/**
 * Compares two JSON values by shape: the same keys with the same JSON types, recursively (values
 * may differ). Array elements are paired by an identifying member when they have one (qdev_id,
 * device, qdev, label, name, bar, bus), else the first with the first.
 */
final class JsonShapes {
    private static final List<String> IDENTITIES = List.of("qdev_id", "device", "qdev", "label", "name", "bar", "bus");

    private JsonShapes() {
    }

    /** Every difference between {@code qemu} and {@code jvmm}, one line each, each starting with its path. */
    static List<String> differences(String path, JsonNode qemu, JsonNode jvmm) {
        List<String> out = new ArrayList<>();
        compare(path, qemu, jvmm, out);
        return out;
    }

    static String type(JsonNode n) {
        if (n.isObject()) {
            return "object";
        }
        if (n.isArray()) {
            return "array";
        }
        if (n.isTextual()) {
            return "string";
        }
        if (n.isBoolean()) {
            return "boolean";
        }
        if (n.isIntegralNumber()) {
            return "integer";
        }
        if (n.isNumber()) {
            return "number";
        }
        return "null";
    }

    private static void compare(String path, JsonNode qemu, JsonNode jvmm, List<String> out) {
        if (!type(qemu).equals(type(jvmm))) {
            out.add(path + ": TYPE: QEMU " + type(qemu) + ", jvmm " + type(jvmm));
            return;
        }
        if (qemu.isObject()) {
            TreeSet<String> keys = new TreeSet<>();
            qemu.fieldNames().forEachRemaining(keys::add);
            jvmm.fieldNames().forEachRemaining(keys::add);
            for (String k : keys) {
                if (!jvmm.has(k)) {
                    out.add(path + "." + k + ": only QEMU has it");
                } else if (!qemu.has(k)) {
                    out.add(path + "." + k + ": only jvmm has it");
                } else {
                    compare(path + "." + k, qemu.get(k), jvmm.get(k), out);
                }
            }
        } else if (qemu.isArray()) {
            if (qemu.isEmpty() || jvmm.isEmpty()) {
                if (qemu.size() != jvmm.size()) {
                    out.add(path + ": empty in " + (qemu.isEmpty() ? "QEMU" : "jvmm") + " (elements not compared)");
                }
                return;
            }
            for (Iterator<JsonNode> it = jvmm.elements(); it.hasNext(); ) {
                JsonNode element = it.next();
                JsonNode partner = partner(qemu, element);
                if (partner != null) {
                    compare(path + "[" + label(element) + "]", partner, element, out);
                }
            }
        }
    }

    /** The element of {@code qemu} with the same identity as {@code element}; the first if none has one. */
    private static JsonNode partner(JsonNode qemu, JsonNode element) {
        if (element.isObject()) {
            for (String id : IDENTITIES) {
                if (element.has(id) && !element.get(id).asText().isEmpty()) {
                    for (JsonNode candidate : qemu) {
                        if (candidate.path(id).equals(element.get(id))) {
                            return candidate;
                        }
                    }
                    return id.equals("bar") ? null : qemu.get(0);   // a BAR QEMU does not have: nothing to pair
                }
            }
        }
        return qemu.get(0);
    }

    private static String label(JsonNode element) {
        if (element.isObject()) {
            for (String id : IDENTITIES) {
                if (element.has(id) && !element.get(id).asText().isEmpty()) {
                    return id + "=" + element.get(id).asText();
                }
            }
        }
        return "*";
    }
}
