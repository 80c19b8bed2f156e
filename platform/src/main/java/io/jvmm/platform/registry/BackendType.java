package io.jvmm.platform.registry;

import java.util.List;

/**
 * A back-end type ({@code -chardev socket}, {@code -drive}, {@code -object memory-backend-memfd},
 * {@code -fsdev local}), declared once and found through {@link java.util.ServiceLoader} like
 * {@link DeviceType}. Devices refer to a back-end by id ({@link Property#backend}).
 *
 * @param <O> the back-end's validated options record
 */
public interface BackendType<O extends BackendOptions> {
    BackendKind kind();

    /** The type's name within its kind ("socket", "memory-backend-memfd", "local"; "drive" for -drive). */
    String name();

    String description();

    /** The properties besides {@code id} and the type key. */
    List<Property<?>> properties();

    O options(PropertyValues values);
}
