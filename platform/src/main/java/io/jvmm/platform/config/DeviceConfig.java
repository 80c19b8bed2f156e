package io.jvmm.platform.config;

import io.jvmm.platform.BuiltDevice;
import io.jvmm.platform.MachineServices;
import io.jvmm.platform.registry.DeviceOptions;
import io.jvmm.platform.registry.DeviceType;
import io.jvmm.platform.registry.Property;
import io.jvmm.platform.registry.PropertyValues;
import java.util.Objects;
import java.util.Optional;

/**
 * A validated {@code -device}: its type and options record, ready to be built in any machine.
 *
 * @param values the typed property values it was parsed from (what a monitor's {@code qom-get}
 *               reads); null for a config built in code, which then reads as the defaults
 */
public record DeviceConfig<O extends DeviceOptions>(DeviceType<O> type, O options, PropertyValues values) {
    public DeviceConfig {
        Objects.requireNonNull(type, "type");
        Objects.requireNonNull(options, "options");
    }

    public DeviceConfig(DeviceType<O> type, O options) {
        this(type, options, null);
    }

    public String id() {
        return options.id();
    }

    public String driver() {
        return type.driver();
    }

    public BuiltDevice build(MachineServices services) {
        return type.build(options, services);
    }

    /** The declared property called {@code name}, if the type has one. */
    public Optional<Property<?>> property(String name) {
        return type.properties().stream().filter(p -> p.name().equals(name)).findFirst();
    }

    /** The value of {@code property} as given, or its default (null if it has none). */
    public <T> T value(Property<T> property) {
        return values == null ? property.defaultValue() : values.get(property);
    }

    @Override
    public String toString() {
        return type.describe(options.id());
    }
}
