package io.jvmm.monitor.qmp;

import com.fasterxml.jackson.databind.JsonNode;
import io.jvmm.monitor.HotPlug;
import io.jvmm.monitor.MonitoredDevice;
import io.jvmm.monitor.qmp.QmpCommand.Result;
import io.jvmm.platform.config.BackendConfig;
import io.jvmm.platform.config.ConfigParser;
import io.jvmm.platform.config.DeviceConfig;
import io.jvmm.platform.options.UserError;
import io.jvmm.platform.registry.BackendKind;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code device_add} and {@code device_del}: the new device's properties go through the registry
 * exactly as a {@code -device} option would (same parser, same checks, same one assembly path),
 * on machines that can hot-plug; elsewhere QEMU's refusal.
 */
final class DeviceCommands {
    private final QmpContext context;

    DeviceCommands(QmpContext context) {
        this.context = context;
    }

    Result add(Arguments a) {
        String driver = a.string("driver");
        if (context.registry().device(driver).isEmpty()) {
            throw QmpError.generic("'" + driver + "' is not a valid device model name");
        }
        a.optionalString("bus").ifPresent(bus -> {
            if (!bus.equals(QmpContext.PCI_BUS)) {
                throw QmpError.generic("Bus '" + bus + "' not found");
            }
        });
        HotPlug hotPlug = hotPlug();
        List<MonitoredDevice> present = context.machine().monitoredDevices();
        a.optionalString("id").ifPresent(id -> {
            if (present.stream().anyMatch(d -> d.id().equals(id))) {
                throw QmpError.generic("Duplicate ID '" + id + "' for device");
            }
        });
        StringBuilder text = new StringBuilder(escape(driver));
        a.optionalString("id").ifPresent(id -> text.append(",id=").append(escape(id)));
        for (Map.Entry<String, JsonNode> e : a.others().entrySet()) {
            text.append(',').append(escape(e.getKey())).append('=').append(escape(optionText(e.getKey(), e.getValue())));
        }
        DeviceConfig<?> config;
        try {
            config = ConfigParser.parseHotplug(context.registry(), backends(),
                    present.stream().<DeviceConfig<?>>map(MonitoredDevice::config).toList(), text.toString());
        } catch (UserError e) {
            throw QmpError.generic(e.getMessage());
        }
        hotPlug.add(config);
        return Result.empty();
    }

    Result delete(Arguments a) {
        String id = a.string("id");
        if (context.device(id).isEmpty()) {
            throw QmpError.deviceNotFound(id);
        }
        hotPlug().remove(id);
        return Result.empty();
    }

    private HotPlug hotPlug() {
        return context.machine().hotPlug().orElseThrow(() -> QmpError.generic("Bus '" + QmpContext.PCI_BUS
                + "' does not support hotplugging (jvmm's " + context.machine().kind() + " machine cannot add or remove devices while it runs)"));
    }

    private Map<BackendKind, Map<String, BackendConfig<?>>> backends() {
        Map<BackendKind, Map<String, BackendConfig<?>>> all = new EnumMap<>(BackendKind.class);
        for (BackendKind kind : BackendKind.values()) {
            Map<String, BackendConfig<?>> byId = new LinkedHashMap<>();
            context.machine().backends(kind).forEach(b -> byId.put(b.id(), b));
            all.put(kind, byId);
        }
        return all;
    }

    /** A property's JSON value as option text: strings as they are, booleans on/off, integers in decimal. */
    private static String optionText(String name, JsonNode value) {
        if (value.isTextual()) {
            return value.asText();
        }
        if (value.isBoolean()) {
            return value.asBoolean() ? "on" : "off";
        }
        if (value.isIntegralNumber()) {
            return value.asText();
        }
        throw Arg.invalidType(name, Arg.Type.STRING);
    }

    /** QEMU's option syntax doubles a comma inside a value. */
    private static String escape(String text) {
        return text.replace(",", ",,");
    }
}
