package io.jvmm.platform.config;

import io.jvmm.platform.registry.BackendOptions;
import io.jvmm.platform.registry.BackendType;
import io.jvmm.platform.registry.Property;
import io.jvmm.platform.registry.PropertyValues;
import java.util.Optional;

/**
 * A validated back-end option ({@code -drive}, {@code -chardev}, {@code -object}, {@code -fsdev}, {@code -blockdev}).
 *
 * @param values the typed property values it was parsed from (what a monitor reports); null for
 *               a config built in code, which then reads as the defaults
 */
public record BackendConfig<O extends BackendOptions>(BackendType<O> type, O options, PropertyValues values) {
    public BackendConfig(BackendType<O> type, O options) {
        this(type, options, null);
    }

    public String id() {
        return options.id();
    }

    /** The value of the declared property called {@code name}, as given or its default. */
    public Optional<Object> value(String name) {
        for (Property<?> p : type.properties()) {
            if (p.name().equals(name)) {
                return Optional.ofNullable(values == null ? p.defaultValue() : values.get(p));
            }
        }
        return Optional.empty();
    }
}
