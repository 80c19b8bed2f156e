package io.jvmm.platform.backends;

import io.jvmm.chardev.Fds;
import io.jvmm.chardev.SharedMemory;
import io.jvmm.chardev.nativ.Native;
import static io.jvmm.chardev.nativ.LinuxConstants.O_CLOEXEC;
import static io.jvmm.chardev.nativ.LinuxConstants.O_CREAT;
import static io.jvmm.chardev.nativ.LinuxConstants.O_RDWR;
import io.jvmm.platform.options.UserError;
import io.jvmm.platform.registry.BackendOptions;
import java.nio.file.Path;
import java.util.Objects;

/**
 * {@code -object memory-backend-memfd|memory-backend-file,id=ID,size=SIZE,share=on[,mem-path=PATH]}:
 * shared memory a device (ivshmem-plain) or the guest's RAM is made of. jvmm's memory is always
 * shared, so that back-ends in other processes can map it: share=on is required.
 *
 * @param memPath the file of a memory-backend-file (created if missing, sized to {@code size}); null for memfd
 */
public record MemoryBackendOptions(String id, String type, long size, Path memPath) implements BackendOptions {
    public static final String MEMFD = "memory-backend-memfd";
    public static final String FILE = "memory-backend-file";

    public MemoryBackendOptions {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(type, "type");
        if (!type.equals(MEMFD) && !type.equals(FILE)) {
            throw new UserError("-object " + type + ": not a memory back-end (" + MEMFD + ", " + FILE + ")");
        }
        MemoryBackendType.SIZE.check(type + " '" + id + "'", size);
        if (size % 4096 != 0) {
            throw new UserError(type + " '" + id + "': size=" + size + " is not a multiple of 4 KiB");
        }
        if (type.equals(FILE) != (memPath != null)) {
            throw new UserError(type + " '" + id + "': " + (memPath == null ? "mem-path= is required" : "mem-path= only applies to " + FILE));
        }
    }

    /** Guest RAM from {@code -m} alone: a memfd named "ram". */
    public static MemoryBackendOptions ram(long size) {
        return new MemoryBackendOptions("ram", MEMFD, size, null);
    }

    /**
     * Creates or opens the memory and maps it: a new memfd, or the file (created with mode 0600 if
     * missing, extended to the size if shorter). The caller owns what it returns.
     */
    public SharedMemory open() {
        if (memPath == null) {
            return SharedMemory.create(id, size);
        }
        int fd = Native.libc().open(memPath.toString(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0) {
            throw new UserError(type + " '" + id + "': cannot open mem-path " + memPath + ": " + Native.error("open").getMessage());
        }
        try {
            long current = java.nio.file.Files.size(memPath);
            if (current < size && Native.libc().ftruncate(fd, size) != 0) {
                throw new UserError(type + " '" + id + "': cannot size " + memPath + " to " + size + " bytes: "
                        + Native.error("ftruncate").getMessage());
            }
        } catch (java.io.IOException e) {
            Fds.closeQuietly(fd);
            throw new UserError(type + " '" + id + "': " + memPath + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            Fds.closeQuietly(fd);
            throw e;
        }
        return SharedMemory.map(fd, 0, size, true);
    }
}
