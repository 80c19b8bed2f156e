package io.jvmm.platform.config;

import io.jvmm.platform.backends.MemoryBackendOptions;
import io.jvmm.platform.options.OptionList;
import io.jvmm.platform.options.Sizes;
import io.jvmm.platform.options.UserError;
import io.jvmm.platform.registry.BackendKind;
import io.jvmm.platform.registry.BackendOptions;
import io.jvmm.platform.registry.BackendType;
import io.jvmm.platform.registry.DeviceOptions;
import io.jvmm.platform.registry.DeviceType;
import io.jvmm.platform.registry.ParseContext;
import io.jvmm.platform.registry.PropertyValues;
import io.jvmm.platform.registry.Registry;
import io.jvmm.platform.registry.Values;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.EnumMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Turns QEMU-style option values into a {@link MachineConfig}, looking every device and back-end
 * type up in the {@link Registry}. Every mistake is a {@link UserError} naming the option, the
 * device or the property at fault.
 */
public final class ConfigParser implements ParseContext {
    public static final long DEFAULT_RAM = 128 * Sizes.MIB;
    public static final int MAX_CPUS = 255;

    /** The raw option values, as the command line gave them; {@code backends} holds -drive, -chardev, -object, ... */
    public record RawOptions(String memory, String smp, Path kernel, Path initrd, String append, boolean noReboot,
                             Map<BackendKind, List<String>> backends, List<String> devices) {
        public RawOptions {
            backends = backends == null ? Map.of() : backends;
            devices = devices == null ? List.of() : devices;
        }

        /** Only devices and back-ends (the no-CPU machine, the vfio-user server). */
        public static RawOptions devicesOnly(Map<BackendKind, List<String>> backends, List<String> devices) {
            return new RawOptions(null, null, null, null, null, false, backends, devices);
        }
    }

    private final Registry registry;
    private final boolean kernelRequired;
    private final Map<BackendKind, Map<String, BackendConfig<?>>> backends = new EnumMap<>(BackendKind.class);
    private final Set<String> usedBackends = new HashSet<>();
    private final Set<String> deviceIds = new HashSet<>();
    private final Map<String, Integer> generated = new LinkedHashMap<>();

    private ConfigParser(Registry registry, boolean kernelRequired) {
        this.registry = registry;
        this.kernelRequired = kernelRequired;
        for (BackendKind k : BackendKind.values()) {
            backends.put(k, new LinkedHashMap<>());
        }
    }

    /** A machine that boots a guest: -kernel is required. */
    public static MachineConfig parse(Registry registry, RawOptions raw) {
        return new ConfigParser(registry, true).build(raw);
    }

    /** Devices only (no guest is booted: -kernel is not required, and the kernel in the result is null). */
    public static MachineConfig parseDevicesOnly(Registry registry, RawOptions raw) {
        return new ConfigParser(registry, false).build(raw);
    }

    /**
     * One more device for a machine that is running (a monitor's {@code device_add}), from
     * {@code -device} text: the back-ends it names must be among {@code backends} and not used by
     * any of {@code present}; its id (generated if not given) must be new.
     *
     * @throws UserError naming the device or property at fault
     */
    public static DeviceConfig<?> parseHotplug(Registry registry, Map<BackendKind, Map<String, BackendConfig<?>>> backends,
                                               Collection<DeviceConfig<?>> present, String text) {
        ConfigParser parser = new ConfigParser(registry, false);
        backends.forEach((kind, byId) -> parser.backends.get(kind).putAll(byId));
        for (DeviceConfig<?> device : present) {
            parser.deviceIds.add(device.id());
            if (device.values() == null) {
                continue;
            }
            for (var p : device.type().properties()) {
                Object value = device.values().get(p);
                if (value instanceof BackendOptions used) {
                    parser.backends.forEach((kind, byId) -> {
                        if (byId.get(used.id()) != null && byId.get(used.id()).options() == used) {
                            parser.usedBackends.add(key(kind, used.id()));
                        }
                    });
                }
            }
        }
        return parser.parseDevice(text);
    }

    private MachineConfig build(RawOptions raw) {
        int cpus = parseSmp(raw.smp());
        if (raw.kernel() == null && kernelRequired) {
            throw new UserError("no -kernel given: name a Linux bzImage or a 64-bit ELF guest");
        }
        requireReadable("-kernel", raw.kernel());
        requireReadable("-initrd", raw.initrd());
        for (BackendKind kind : BackendKind.values()) {
            for (String text : raw.backends().getOrDefault(kind, List.of())) {
                BackendConfig<?> b = parseBackend(kind, text);
                if (backends.get(kind).put(b.id(), b) != null) {
                    throw new UserError(kind.optionName() + " id '" + b.id() + "' is used twice");
                }
            }
        }
        List<DeviceConfig<?>> devices = new ArrayList<>();
        for (String text : raw.devices()) {
            devices.add(parseDevice(text));
        }
        for (BackendConfig<?> drive : backends.get(BackendKind.DRIVE).values()) {
            if (!usedBackends.contains(key(BackendKind.DRIVE, drive.id()))) {
                throw new UserError("-drive " + drive.id() + " is not used by any device; add -device virtio-blk-pci,drive=" + drive.id());
            }
        }
        MemoryBackendOptions ram = ram(raw.memory());
        return new MachineConfig(ram, cpus, raw.kernel(), raw.initrd(), raw.append() == null ? "" : raw.append(),
                raw.noReboot(), copy(backends), List.copyOf(devices));
    }

    private static Map<BackendKind, Map<String, BackendConfig<?>>> copy(Map<BackendKind, Map<String, BackendConfig<?>>> all) {
        Map<BackendKind, Map<String, BackendConfig<?>>> out = new EnumMap<>(BackendKind.class);
        all.forEach((k, v) -> out.put(k, Map.copyOf(v)));
        return out;
    }

    /** The guest's RAM: the memory back-end no device uses (at most one), sized like -m if both are given. */
    private MemoryBackendOptions ram(String memory) {
        Long bytes = memory == null ? null : parseMemory(memory);
        List<MemoryBackendOptions> unused = new ArrayList<>();
        for (BackendConfig<?> b : backends.get(BackendKind.OBJECT).values()) {
            if (b.options() instanceof MemoryBackendOptions m && !usedBackends.contains(key(BackendKind.OBJECT, m.id()))) {
                unused.add(m);
            }
        }
        if (unused.size() > 1) {
            throw new UserError("-object: " + unused.size() + " memory back-ends are not used by any device ("
                    + String.join(", ", unused.stream().map(MemoryBackendOptions::id).toList())
                    + "); only one can be the guest's RAM");
        }
        if (unused.isEmpty()) {
            return MemoryBackendOptions.ram(bytes == null ? DEFAULT_RAM : bytes);
        }
        MemoryBackendOptions m = unused.get(0);
        if (!m.type().equals(MemoryBackendOptions.MEMFD)) {
            throw new UserError("-object " + m.type() + ",id=" + m.id() + ": guest RAM must be a memory-backend-memfd");
        }
        if (bytes != null && bytes != m.size()) {
            throw new UserError("-object memory-backend-memfd,id=" + m.id() + ": size " + Sizes.format(m.size())
                    + " differs from -m " + Sizes.format(bytes) + "; give the same size to both");
        }
        checkRamSize("-object " + m.type() + ",id=" + m.id(), m.size());
        return m;
    }

    private static long parseMemory(String text) {
        String value = text.startsWith("size=") ? text.substring(5) : text;
        long bytes = Sizes.parse("-m", value, Sizes.MIB);
        checkRamSize("-m " + text, bytes);
        return bytes;
    }

    private static void checkRamSize(String where, long bytes) {
        if (bytes < 16 * Sizes.MIB) {
            throw new UserError(where + ": at least 16 MiB of RAM is needed");
        }
        if (bytes % (2 * Sizes.MIB) != 0) {
            throw new UserError(where + ": RAM size must be a multiple of 2 MiB");
        }
    }

    private static int parseSmp(String text) {
        if (text == null) {
            return 1;
        }
        String value = text.startsWith("cpus=") ? text.substring(5) : text;
        try {
            int n = Integer.parseInt(value);
            if (n < 1 || n > MAX_CPUS) {
                throw new UserError("-smp " + text + ": the number of vCPUs must be 1 to " + MAX_CPUS);
            }
            return n;
        } catch (NumberFormatException e) {
            throw new UserError("-smp " + text + ": not a number of vCPUs");
        }
    }

    private static void requireReadable(String option, Path file) {
        if (file == null) {
            return;
        }
        if (!Files.isRegularFile(file)) {
            throw new UserError(option + " " + file + ": no such file");
        }
        if (!Files.isReadable(file)) {
            throw new UserError(option + " " + file + ": not readable (check its permissions)");
        }
    }

    private BackendConfig<?> parseBackend(BackendKind kind, String text) {
        OptionList o = OptionList.parse(kind.optionName(), text, kind.typeKey());
        String typeName = kind.typeKey() == null ? kind.name().toLowerCase() : o.head();
        BackendType<?> type = registry.backend(kind, typeName).orElseThrow(() -> new UserError(kind.optionName() + " " + typeName
                + ": unknown type (supported: " + String.join(", ", registry.backends(kind).stream().map(BackendType::name).toList()) + ")"));
        return parseBackend(type, o);
    }

    private <O extends BackendOptions> BackendConfig<O> parseBackend(BackendType<O> type, OptionList o) {
        // -blockdev names its node with node-name (QEMU's spelling); id is accepted too
        boolean node = type.kind() == BackendKind.BLOCKDEV && !o.all().containsKey("id");
        String id = node ? o.required("node-name") : o.required("id");
        Set<String> also = new HashSet<>();
        if (type.kind().typeKey() != null) {
            also.add(type.kind().typeKey());
        }
        if (node) {
            also.add("node-name");
        }
        PropertyValues values = Values.parse(o, id, type.name() + " '" + id + "'", type.properties(), ParseContext.NONE, also);
        return new BackendConfig<>(type, type.options(values), values);
    }

    private DeviceConfig<?> parseDevice(String text) {
        OptionList o = OptionList.parse("-device", text, "driver");
        String driver = o.head();
        DeviceType<?> type = registry.device(driver).orElseThrow(() -> new UserError("-device " + driver + ": unknown device (supported: "
                + String.join(", ", registry.devices().stream().map(DeviceType::driver).toList()) + "; see -device help)"));
        return parseDevice(type, o);
    }

    private <O extends DeviceOptions> DeviceConfig<O> parseDevice(DeviceType<O> type, OptionList o) {
        String id = o.string("id", null);
        id = id == null ? generateId(type.driver()) : id;
        if (id.isEmpty()) {
            throw new UserError(o.where() + ": id must not be empty");
        }
        if (!deviceIds.add(id)) {
            throw new UserError(o.where() + ": id '" + id + "' is already used");
        }
        PropertyValues values = Values.parse(o, id, type.describe(id), type.properties(), this, Set.of());
        return new DeviceConfig<>(type, type.options(values), values);
    }

    @Override
    public <B> B claimBackend(String where, String property, BackendKind kind, String id, Class<B> wanted) {
        BackendConfig<?> b = backends.get(kind).get(id);
        if (b == null && kind == BackendKind.DRIVE) {
            // as in QEMU, a device's drive= names a -drive or a -blockdev node
            b = backends.get(BackendKind.BLOCKDEV).get(id);
            kind = b == null ? kind : BackendKind.BLOCKDEV;
        }
        if (b == null) {
            throw new UserError(where + ": " + property + " '" + id + "' is not defined by any " + kind.optionName() + " id=" + id);
        }
        if (!wanted.isInstance(b.options())) {
            throw new UserError(where + ": " + property + " '" + id + "' is a " + b.type().name() + ", which this device cannot use");
        }
        if (!usedBackends.add(key(kind, id))) {
            throw new UserError(where + ": " + kind.optionName().substring(1) + " '" + id + "' is already used by another device");
        }
        return wanted.cast(b.options());
    }

    private static String key(BackendKind kind, String id) {
        return kind + ":" + id;
    }

    private String generateId(String driver) {
        String base = driver.replace("virtio-", "").replace("-pci", "").replace("isa-", "");
        String id;
        do {
            int n = generated.merge(base, 1, Integer::sum) - 1;
            id = base + n;
        } while (deviceIds.contains(id));
        return id;
    }
}
