package io.jvmm.platform.config;

import io.jvmm.platform.registry.BackendOptions;
import io.jvmm.platform.registry.BackendType;

/** A validated back-end option ({@code -drive}, {@code -chardev}, {@code -object}, {@code -fsdev}, {@code -blockdev}). */
public record BackendConfig<O extends BackendOptions>(BackendType<O> type, O options) {
    public String id() {
        return options.id();
    }
}
