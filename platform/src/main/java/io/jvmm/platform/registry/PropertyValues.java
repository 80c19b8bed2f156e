package io.jvmm.platform.registry;

import java.util.Map;
import java.util.Objects;

/**
 * The parsed values of one {@code -device} or back-end option, typed by their {@link Property}.
 * A property not given reads as its default (null if it has none).
 */
public final class PropertyValues {
    private final String id;
    private final String owner;
    private final Map<Property<?>, Object> values;

    PropertyValues(String id, String owner, Map<Property<?>, Object> values) {
        this.id = id;
        this.owner = owner;
        this.values = values;
    }

    /** For tests and programmatic construction: {@code values} keyed by property. */
    public static PropertyValues of(String id, String owner, Map<Property<?>, Object> values) {
        return new PropertyValues(Objects.requireNonNull(id, "id"), owner, Map.copyOf(values));
    }

    public String id() {
        return id;
    }

    /** How errors name the device or back-end, e.g. "virtio-blk-pci 'blk0'". */
    public String owner() {
        return owner;
    }

    @SuppressWarnings("unchecked")
    public <T> T get(Property<T> property) {
        Object v = values.get(property);
        return v == null ? property.defaultValue() : (T) v;
    }

    /** Whether the user gave the property. */
    public boolean given(Property<?> property) {
        return values.containsKey(property);
    }
}
