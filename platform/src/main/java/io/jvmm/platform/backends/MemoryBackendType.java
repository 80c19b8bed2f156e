package io.jvmm.platform.backends;

import io.jvmm.platform.options.UserError;
import io.jvmm.platform.registry.BackendKind;
import io.jvmm.platform.registry.BackendType;
import io.jvmm.platform.registry.Property;
import io.jvmm.platform.registry.PropertyValues;
import java.nio.file.Path;
import java.util.List;

/** {@code -object memory-backend-memfd} and {@code -object memory-backend-file}: shared memory. */
public abstract class MemoryBackendType implements BackendType<MemoryBackendOptions> {
    public static final Property<Long> SIZE = Property.size("size", "size of the memory").required();
    static final Property<Boolean> SHARE = Property.bool("share", "map the memory shared (jvmm requires on)").withDefault(false);
    static final Property<String> MEM_PATH = Property.string("mem-path", "file to map (memory-backend-file only)");

    private final String name;

    MemoryBackendType(String name) {
        this.name = name;
    }

    @Override
    public BackendKind kind() {
        return BackendKind.OBJECT;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public List<Property<?>> properties() {
        return name.equals(MemoryBackendOptions.FILE) ? List.of(SIZE, SHARE, MEM_PATH) : List.of(SIZE, SHARE);
    }

    @Override
    public MemoryBackendOptions options(PropertyValues values) {
        if (!values.get(SHARE)) {
            throw new UserError(values.owner() + ": share=on is required (memory in jvmm is always shared, "
                    + "so back-ends in other processes can map it)");
        }
        String path = values.get(MEM_PATH);
        return new MemoryBackendOptions(values.id(), name, SIZE.check(values.owner(), values.get(SIZE)),
                path == null ? null : Path.of(path));
    }

    /** {@code memory-backend-memfd}. */
    public static final class Memfd extends MemoryBackendType {
        public Memfd() {
            super(MemoryBackendOptions.MEMFD);
        }

        @Override
        public String description() {
            return "anonymous shared memory (memfd)";
        }
    }

    /** {@code memory-backend-file}. */
    public static final class File extends MemoryBackendType {
        public File() {
            super(MemoryBackendOptions.FILE);
        }

        @Override
        public String description() {
            return "shared memory in a file, e.g. under /dev/shm";
        }
    }
}
