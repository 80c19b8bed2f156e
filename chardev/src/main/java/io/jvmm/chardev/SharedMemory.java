package io.jvmm.chardev;

import static io.jvmm.chardev.nativ.LinuxConstants.MAP_FAILED;
import static io.jvmm.chardev.nativ.LinuxConstants.MAP_FIXED;
import static io.jvmm.chardev.nativ.LinuxConstants.MAP_NORESERVE;
import static io.jvmm.chardev.nativ.LinuxConstants.MAP_SHARED;
import static io.jvmm.chardev.nativ.LinuxConstants.MFD_CLOEXEC;
import static io.jvmm.chardev.nativ.LinuxConstants.PROT_READ;
import static io.jvmm.chardev.nativ.LinuxConstants.PROT_WRITE;

import com.kenai.jffi.MemoryIO;
import io.jvmm.chardev.nativ.LibC;
import io.jvmm.chardev.nativ.Native;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Objects;
import jnr.ffi.Pointer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A shared-memory region: a memfd (or a peer's fd) mapped {@code MAP_SHARED} read-write at one
 * host address, as KVM memory slots and vhost-user back-ends need it.
 *
 * <p>Java 17 buffers cannot exceed 2 GiB, so the region is exposed as cached 1 GiB
 * {@link #window windows} plus {@link #slice fresh views} of at most 2 GiB anywhere in it. Every
 * buffer is LITTLE_ENDIAN (the guest's byte order), whereas direct buffers start BIG_ENDIAN.
 *
 * <p>After {@link #close()} the range is not simply unmapped: it is replaced by a mapping of an
 * empty file, so that a stale buffer somebody still holds faults with an {@link InternalError}
 * ("a fault occurred in an unsafe memory access operation", the JVM's SIGBUS handling) instead
 * of crashing the JVM or silently writing into whatever the kernel maps there next. That keeps
 * the address range (not the memory) reserved for the life of the process.
 *
 * <p>Thread-safe; windows are shared, so their users must use absolute get/put only.
 */
public final class SharedMemory implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(SharedMemory.class);
    private static final LibC LIBC = Native.libc();

    /** Size of the cached windows the region is cut into. */
    public static final long WINDOW_SIZE = 1L << 30;

    private final String name;
    private final long size;
    private final int fd;
    private final long fdOffset;
    private final boolean ownsFd;
    private final long address;
    private final ByteBuffer[] windows;
    private volatile boolean closed;

    private SharedMemory(String name, long size, int fd, long fdOffset, boolean ownsFd, long address) {
        this.name = name;
        this.size = size;
        this.fd = fd;
        this.fdOffset = fdOffset;
        this.ownsFd = ownsFd;
        this.address = address;
        int count = (int) ((size + WINDOW_SIZE - 1) / WINDOW_SIZE);
        this.windows = new ByteBuffer[count];
        for (int i = 0; i < count; i++) {
            long start = i * WINDOW_SIZE;
            windows[i] = directBuffer(address + start, (int) Math.min(WINDOW_SIZE, size - start));
        }
    }

    /**
     * A new memfd of the given size, mapped shared read-write ({@code memfd_create(MFD_CLOEXEC)},
     * {@code ftruncate}, {@code mmap}). The memory reads as zeros and is allocated on first touch.
     */
    public static SharedMemory create(String name, long size) {
        Objects.requireNonNull(name, "name");
        requirePositiveSize(name, size);
        int fd = Native.check(LIBC.memfd_create(name, MFD_CLOEXEC),
                "memfd_create(\"" + name + "\", MFD_CLOEXEC)");
        try {
            Native.check(LIBC.ftruncate(fd, size), "ftruncate(memfd \"" + name + "\" fd " + fd + ", " + size + ")");
            long address = mapShared(fd, 0, size, "memfd \"" + name + "\"");
            log.debug("created shared memory \"{}\": fd {}, {} bytes at 0x{}", name, fd, size, Long.toHexString(address));
            return new SharedMemory(name, size, fd, 0, true, address);
        } catch (RuntimeException e) {
            Fds.closeQuietly(fd);
            throw e;
        }
    }

    /**
     * Maps size bytes of a peer's fd starting at fdOffset (a multiple of the page size). With
     * takeOwnership the fd is closed by {@link #close()}, and also if the mapping fails.
     */
    public static SharedMemory map(int fd, long fdOffset, long size, boolean takeOwnership) {
        String name = "fd " + fd + (fdOffset == 0 ? "" : " @" + fdOffset);
        try {
            if (fd < 0) {
                throw new IllegalArgumentException("cannot map " + name + ": fd is negative");
            }
            requirePositiveSize(name, size);
            if (fdOffset < 0 || fdOffset % Native.pageSize() != 0) {
                throw new IllegalArgumentException("cannot map " + name + ": offset " + fdOffset
                        + " is not a non-negative multiple of the page size " + Native.pageSize());
            }
            long address = mapShared(fd, fdOffset, size, name);
            log.debug("mapped {}: {} bytes at 0x{}", name, size, Long.toHexString(address));
            return new SharedMemory(name, size, fd, fdOffset, takeOwnership, address);
        } catch (RuntimeException e) {
            if (takeOwnership) {
                Fds.closeQuietly(fd);
            }
            throw e;
        }
    }

    private static void requirePositiveSize(String name, long size) {
        if (size <= 0) {
            throw new IllegalArgumentException("shared memory \"" + name + "\": size must be positive, got " + size);
        }
    }

    private static long mapShared(int fd, long offset, long size, String what) {
        long address = LIBC.mmap(null, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, offset);
        if (address == MAP_FAILED) {
            throw Native.error("mmap(NULL, " + size + ", PROT_READ|PROT_WRITE, MAP_SHARED, " + what + ", " + offset + ")");
        }
        return address;
    }

    private static ByteBuffer directBuffer(long address, int length) {
        return MemoryIO.getInstance().newDirectByteBuffer(address, length).order(ByteOrder.LITTLE_ENDIAN);
    }

    public String name() {
        return name;
    }

    public long size() {
        return size;
    }

    /** The fd backing the mapping (owned by this object only if created or adopted). */
    public int fd() {
        ensureOpen();
        return fd;
    }

    /** Offset of the mapping in its fd; 0 for {@link #create}. */
    public long fdOffset() {
        return fdOffset;
    }

    /** Host virtual address of the mapping (what KVM memory slots need). */
    public long address() {
        ensureOpen();
        return address;
    }

    /**
     * A new zero-copy LITTLE_ENDIAN view of [offset, offset + length), position 0.
     *
     * @throws IndexOutOfBoundsException if the range is not inside the region
     */
    public ByteBuffer slice(long offset, int length) {
        if (offset < 0 || length < 0 || offset > size - length) {
            throw new IndexOutOfBoundsException("shared memory \"" + name + "\": slice offset " + offset
                    + " length " + length + " is outside size " + size);
        }
        ensureOpen();
        return directBuffer(address + offset, length);
    }

    /** ceil(size / WINDOW_SIZE). */
    public int windowCount() {
        return windows.length;
    }

    /**
     * The cached view of [index * WINDOW_SIZE, min(size, (index + 1) * WINDOW_SIZE)). It is
     * shared by every caller: use absolute get/put only, never its position or limit.
     */
    public ByteBuffer window(int index) {
        if (index < 0 || index >= windows.length) {
            throw new IndexOutOfBoundsException("shared memory \"" + name + "\": window " + index
                    + " does not exist (" + windows.length + " windows)");
        }
        ensureOpen();
        return windows[index];
    }

    public boolean isClosed() {
        return closed;
    }

    /** Unmaps the memory and closes the fd if owned; later calls do nothing. */
    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        try {
            GuardMapping.replace(address, size);
        } finally {
            if (ownsFd) {
                Fds.close(fd);
            }
        }
        log.debug("closed shared memory \"{}\"", name);
    }

    private void ensureOpen() {
        if (closed) {
            throw new IllegalStateException("shared memory \"" + name + "\" is closed");
        }
    }

    @Override
    public String toString() {
        return "SharedMemory[\"" + name + "\", " + size + " bytes" + (closed ? ", closed]" : "]");
    }

    /** Replaces a closed region with a mapping of an empty memfd, so stale accesses get SIGBUS. */
    private static final class GuardMapping {
        private static final int EMPTY_FD = Native.check(LIBC.memfd_create("jvmm-closed-memory", MFD_CLOEXEC),
                "memfd_create(\"jvmm-closed-memory\", MFD_CLOEXEC)");

        static void replace(long address, long size) {
            long at = LIBC.mmap(Pointer.wrap(Native.runtime(), address), size, PROT_READ | PROT_WRITE,
                    MAP_SHARED | MAP_FIXED | MAP_NORESERVE, EMPTY_FD, 0);
            if (at == MAP_FAILED) {
                // Could not install the guard: fall back to a plain unmap.
                log.warn("could not guard closed memory at 0x{} ({}), unmapping it",
                        Long.toHexString(address), Native.error("mmap(MAP_FIXED)").getMessage());
                Native.check(LIBC.munmap(address, size), "munmap(0x" + Long.toHexString(address) + ", " + size + ")");
            }
        }
    }
}
