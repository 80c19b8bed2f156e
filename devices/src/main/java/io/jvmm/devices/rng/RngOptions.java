package io.jvmm.devices.rng;

import io.jvmm.platform.registry.DeviceOptions;
import java.util.Objects;

/** {@code -device virtio-rng-pci}: nothing to choose but the id (entropy comes from the JVM's SecureRandom). */
public record RngOptions(String id) implements DeviceOptions {
    public RngOptions {
        Objects.requireNonNull(id, "id");
    }
}
