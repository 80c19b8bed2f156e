package io.jvmm.platform.config;

import io.jvmm.platform.BuiltDevice;
import io.jvmm.platform.MachineServices;
import io.jvmm.platform.registry.DeviceOptions;
import io.jvmm.platform.registry.DeviceType;
import java.util.Objects;

/** A validated {@code -device}: its type and options record, ready to be built in any machine. */
public record DeviceConfig<O extends DeviceOptions>(DeviceType<O> type, O options) {
    public DeviceConfig {
        Objects.requireNonNull(type, "type");
        Objects.requireNonNull(options, "options");
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

    @Override
    public String toString() {
        return type.describe(options.id());
    }
}
