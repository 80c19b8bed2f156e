package io.jvmm.platform.options;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * One QEMU-style option value: {@code driver,key=value,key=value} (QEMU's QemuOpts syntax, with
 * {@code ,,} for a literal comma). Each property is taken at most once by the code that
 * understands it; {@link #finish} then refuses whatever is left, naming it.
 */
public final class OptionList {
    private final String option;
    private final String head;
    private final Map<String, String> properties;
    private final Map<String, String> unread;

    private OptionList(String option, String head, Map<String, String> properties) {
        this.option = option;
        this.head = head;
        this.properties = Collections.unmodifiableMap(properties);
        this.unread = new LinkedHashMap<>(properties);
    }

    /**
     * Parses {@code text} given to {@code option} (e.g. "-device"). When {@code headKey} is not
     * null the first element may be a bare value meaning {@code headKey=value} (the driver name).
     */
    public static OptionList parse(String option, String text, String headKey) {
        List<String> parts = split(text);
        Map<String, String> props = new LinkedHashMap<>();
        String head = null;
        for (int i = 0; i < parts.size(); i++) {
            String p = parts.get(i);
            int eq = p.indexOf('=');
            if (eq < 0) {
                if (i == 0 && headKey != null) {
                    head = p;
                    continue;
                }
                if (p.isEmpty()) {
                    throw new UserError(option + " " + text + ": empty element");
                }
                throw new UserError(option + " " + text + ": '" + p + "' is not of the form key=value");
            }
            String key = p.substring(0, eq);
            if (key.isEmpty()) {
                throw new UserError(option + " " + text + ": a property has no name");
            }
            if (props.put(key, p.substring(eq + 1)) != null) {
                throw new UserError(option + " " + text + ": property '" + key + "' given twice");
            }
        }
        if (headKey != null && head == null) {
            head = props.remove(headKey);
        }
        if (headKey != null && (head == null || head.isEmpty())) {
            throw new UserError(option + " " + text + ": no " + headKey + " given");
        }
        return new OptionList(option, head, props);
    }

    /** QEMU's option syntax: the elements of {@code text}, separated by commas (a doubled comma is a comma). */
    public static List<String> split(String text) {
        List<String> parts = new ArrayList<>();
        StringBuilder current = new StringBuilder();
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c == ',') {
                if (i + 1 < text.length() && text.charAt(i + 1) == ',') {
                    current.append(',');
                    i++;
                } else {
                    parts.add(current.toString());
                    current.setLength(0);
                }
            } else {
                current.append(c);
            }
        }
        parts.add(current.toString());
        return parts;
    }

    /** The bare first element (driver or backend name). */
    public String head() {
        return head;
    }

    public String option() {
        return option;
    }

    /** Where errors point: e.g. "-device virtio-blk-pci". */
    public String where() {
        return head == null ? option : option + " " + head;
    }

    public Map<String, String> all() {
        return properties;
    }

    public String string(String key, String defaultValue) {
        String v = unread.remove(key);
        return v == null ? (properties.containsKey(key) ? properties.get(key) : defaultValue) : v;
    }

    public String required(String key) {
        String v = string(key, null);
        if (v == null || v.isEmpty()) {
            throw new UserError(where() + ": property '" + key + "' is required");
        }
        return v;
    }

    public boolean bool(String key, boolean defaultValue) {
        String v = string(key, null);
        if (v == null) {
            return defaultValue;
        }
        switch (v) {
            case "on": case "yes": case "true": case "y":
                return true;
            case "off": case "no": case "false": case "n":
                return false;
            default:
                throw new UserError(where() + ": property '" + key + "' must be on or off, not '" + v + "'");
        }
    }

    public long number(String key, long defaultValue) {
        String v = string(key, null);
        if (v == null) {
            return defaultValue;
        }
        try {
            return v.startsWith("0x") || v.startsWith("0X") ? Long.parseLong(v.substring(2), 16) : Long.parseLong(v);
        } catch (NumberFormatException e) {
            throw new UserError(where() + ": property '" + key + "' must be a number, not '" + v + "'");
        }
    }

    public long size(String key, long defaultValue, long defaultUnit) {
        String v = string(key, null);
        return v == null ? defaultValue : Sizes.parse(where() + " " + key, v, defaultUnit);
    }

    /** Refuses any property nobody read, naming it and what is accepted. */
    public void finish(Set<String> accepted) {
        if (!unread.isEmpty()) {
            String key = unread.keySet().iterator().next();
            throw new UserError(where() + ": unknown property '" + key + "'"
                    + (accepted.isEmpty() ? " (it takes none)" : " (accepted: " + String.join(", ", accepted) + ")"));
        }
    }
}
