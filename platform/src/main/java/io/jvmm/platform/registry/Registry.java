package io.jvmm.platform.registry;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.ServiceLoader;
import java.util.TreeMap;
import java.util.stream.Collectors;

/**
 * Every device and back-end type on the class path, found with {@link ServiceLoader}: what the
 * command line, {@code -device help}, QMP and the test kit consult. Adding a device type is a
 * change in its own package plus one line in its module's {@code META-INF/services} file.
 */
public final class Registry {
    private static volatile Registry loaded;

    private final Map<String, DeviceType<?>> devices = new TreeMap<>();
    private final Map<BackendKind, Map<String, BackendType<?>>> backends = new LinkedHashMap<>();

    private Registry(List<DeviceType<?>> deviceTypes, List<BackendType<?>> backendTypes) {
        for (DeviceType<?> t : deviceTypes) {
            if (devices.put(t.driver(), t) != null) {
                throw new IllegalStateException("device type '" + t.driver() + "' is registered twice");
            }
        }
        for (BackendKind k : BackendKind.values()) {
            backends.put(k, new TreeMap<>());
        }
        for (BackendType<?> t : backendTypes) {
            if (backends.get(t.kind()).put(t.name(), t) != null) {
                throw new IllegalStateException(t.kind().optionName() + " type '" + t.name() + "' is registered twice");
            }
        }
    }

    /** The types on the class path (loaded once). */
    public static Registry load() {
        Registry r = loaded;
        if (r == null) {
            synchronized (Registry.class) {
                r = loaded;
                if (r == null) {
                    r = fromServiceLoader(Registry.class.getClassLoader());
                    loaded = r;
                }
            }
        }
        return r;
    }

    @SuppressWarnings({"rawtypes", "unchecked"})
    private static Registry fromServiceLoader(ClassLoader loader) {
        List<DeviceType<?>> d = new ArrayList<>();
        for (DeviceType t : ServiceLoader.load(DeviceType.class, loader)) {
            d.add(t);
        }
        List<BackendType<?>> b = new ArrayList<>();
        for (BackendType t : ServiceLoader.load(BackendType.class, loader)) {
            b.add(t);
        }
        return new Registry(d, b);
    }

    /** A registry of exactly these types (tests). */
    public static Registry of(List<DeviceType<?>> deviceTypes, List<BackendType<?>> backendTypes) {
        return new Registry(deviceTypes, backendTypes);
    }

    public List<DeviceType<?>> devices() {
        return List.copyOf(devices.values());
    }

    public Optional<DeviceType<?>> device(String driver) {
        return Optional.ofNullable(devices.get(driver));
    }

    public List<BackendType<?>> backends(BackendKind kind) {
        return List.copyOf(backends.get(kind).values());
    }

    public Optional<BackendType<?>> backend(BackendKind kind, String name) {
        return Optional.ofNullable(backends.get(kind).get(name));
    }

    // ---- help, as QEMU prints it --------------------------------------------------------

    /** {@code -device help}: the devices by category, one line each. */
    public String deviceHelp() {
        Map<DeviceCategory, List<DeviceType<?>>> byCategory = devices.values().stream()
                .collect(Collectors.groupingBy(DeviceType::category, TreeMap::new, Collectors.toList()));
        StringBuilder out = new StringBuilder();
        for (Map.Entry<DeviceCategory, List<DeviceType<?>>> e : byCategory.entrySet()) {
            if (out.length() > 0) {
                out.append('\n');
            }
            out.append(e.getKey().heading()).append(":\n");
            for (DeviceType<?> t : e.getValue()) {
                out.append("name \"").append(t.driver()).append("\", bus ").append(t.bus())
                        .append(", desc \"").append(t.description()).append("\"\n");
            }
        }
        return out.toString();
    }

    /** {@code -device DRIVER,help}: the driver's properties. */
    public String deviceHelp(DeviceType<?> type) {
        List<Property<?>> all = new ArrayList<>(type.properties());
        all.sort(Comparator.comparing(Property::name));
        return propertyHelp(type.driver() + " options:\n", all);
    }

    /** {@code -chardev help}, {@code -object help}, ...: the types of a kind. */
    public String backendHelp(BackendKind kind) {
        StringBuilder out = new StringBuilder("Available " + kind.optionName().substring(1) + " types:\n");
        for (BackendType<?> t : backends.get(kind).values()) {
            out.append("  ").append(t.name()).append(" - ").append(t.description()).append('\n');
        }
        return out.toString();
    }

    /** {@code -object memory-backend-memfd,help}: one type's properties. */
    public String backendHelp(BackendType<?> type) {
        List<Property<?>> all = new ArrayList<>(type.properties());
        all.sort(Comparator.comparing(Property::name));
        return propertyHelp(type.name() + " options:\n", all);
    }

    private static String propertyHelp(String heading, List<Property<?>> properties) {
        StringBuilder out = new StringBuilder(heading);
        if (properties.isEmpty()) {
            out.append("  (no properties besides id)\n");
        }
        for (Property<?> p : properties) {
            String left = "  " + p.name() + "=<" + p.typeName() + ">";
            StringBuilder right = new StringBuilder(p.help());
            if (p.allowedText() != null) {
                right.append(right.length() == 0 ? "" : "; ").append(p.allowedText());
            }
            if (p.isSettableAtRunTime()) {
                right.append("; can be changed while running (qom-set)");
            }
            if (p.isRequired()) {
                right.append(" (required)");
            } else if (p.defaultValue() != null) {
                right.append(" (default: ").append(describeDefault(p.defaultValue())).append(')');
            }
            out.append(String.format("%-24s - %s%n", left, right.toString().trim()));
        }
        return out.toString();
    }

    private static String describeDefault(Object value) {
        if (value instanceof Boolean b) {
            return b ? "on" : "off";
        }
        return String.valueOf(value);
    }
}
