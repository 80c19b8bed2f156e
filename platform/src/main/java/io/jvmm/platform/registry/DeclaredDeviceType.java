package io.jvmm.platform.registry;

import java.util.List;
import java.util.Objects;

/**
 * A {@link DeviceType} whose declaration (driver, category, bus, description, properties) is
 * given once to the constructor; subclasses add only how to make the options and how to build.
 */
public abstract class DeclaredDeviceType<O extends DeviceOptions> implements DeviceType<O> {
    private final String driver;
    private final DeviceCategory category;
    private final String bus;
    private final String description;
    private final List<Property<?>> properties;

    protected DeclaredDeviceType(String driver, DeviceCategory category, String bus, String description, List<Property<?>> properties) {
        this.driver = Objects.requireNonNull(driver, "driver");
        this.category = Objects.requireNonNull(category, "category");
        this.bus = Objects.requireNonNull(bus, "bus");
        this.description = Objects.requireNonNull(description, "description");
        this.properties = List.copyOf(properties);
    }

    @Override
    public final String driver() {
        return driver;
    }

    @Override
    public final DeviceCategory category() {
        return category;
    }

    @Override
    public final String bus() {
        return bus;
    }

    @Override
    public final String description() {
        return description;
    }

    @Override
    public final List<Property<?>> properties() {
        return properties;
    }
}
