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
import java.lang.ref.Cleaner;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicLong;
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
 * of crashing the JVM or silently writing into whatever the kernel maps there next. The guard
 * holds only the address range (no memory), and only while a buffer can still reach it: every
 * buffer handed out is a window or derived from one (a slice of a direct buffer keeps its parent
 * reachable), or a cross-window slice tracked on its own; once the garbage collector has found
 * all of them unreachable after the close, the guard is unmapped ({@link #guardedBytes()}), so
 * regions mapped and closed again and again (a vfio-user client's memory, session after session)
 * do not pile up address space.
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
    private final ByteBuffer[] windows;   // entries dropped at close, so only users keep them reachable
    private final Reach reach;
    private volatile boolean closed;

    private static final Cleaner CLEANER = Cleaner.create(r -> {
        Thread t = new Thread(r, "jvmm-shared-memory-guards");
        t.setDaemon(true);
        return t;
    });
    private static final AtomicLong GUARDED_BYTES = new AtomicLong();
    /**
     * Guarded bytes past which a close asks for a garbage collection: the buffers over mapped memory
     * are not counted as the JVM's direct memory, so nothing else would make it run while the heap
     * is quiet, and the guards would grow with every region closed until then.
     */
    static final long GC_THRESHOLD = 4L << 30;
    private static final AtomicLong GUARDED_AT_LAST_GC = new AtomicLong();

    private SharedMemory(String name, long size, int fd, long fdOffset, boolean ownsFd, long address) {
        this.name = name;
        this.size = size;
        this.fd = fd;
        this.fdOffset = fdOffset;
        this.ownsFd = ownsFd;
        this.address = address;
        this.reach = new Reach(name, address, size);
        int count = (int) ((size + WINDOW_SIZE - 1) / WINDOW_SIZE);
        this.windows = new ByteBuffer[count];
        for (int i = 0; i < count; i++) {
            long start = i * WINDOW_SIZE;
            windows[i] = track(directBuffer(address + start, (int) Math.min(WINDOW_SIZE, size - start)));
        }
    }

    /** Counts a root buffer over the mapping until the garbage collector finds it unreachable. */
    private ByteBuffer track(ByteBuffer b) {
        reach.bufferMade();
        CLEANER.register(b, reach::bufferGone);
        return b;
    }

    /**
     * Bytes of address space held by guards of closed regions that a buffer may still reach; they
     * are released as the garbage collector finds those buffers unreachable.
     */
    public static long guardedBytes() {
        return GUARDED_BYTES.get();
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
        int first = (int) (offset / WINDOW_SIZE);
        if (length == 0 || first == (int) ((offset + length - 1) / WINDOW_SIZE)) {
            ByteBuffer w = windows[Math.min(first, windows.length - 1)];
            if (w == null) {
                ensureOpen();
                throw new IllegalStateException("shared memory \"" + name + "\" is closed");
            }
            // Derived from the window: it keeps the window (and so the guard) reachable while it lives.
            return w.slice((int) (offset - (long) Math.min(first, windows.length - 1) * WINDOW_SIZE), length).order(ByteOrder.LITTLE_ENDIAN);
        }
        return track(directBuffer(address + offset, length));
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
        ByteBuffer w = windows[index];
        if (w == null) {
            throw new IllegalStateException("shared memory \"" + name + "\" is closed");
        }
        return w;
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
            if (GuardMapping.replace(address, size)) {
                java.util.Arrays.fill(windows, null);   // from now on only their users keep them reachable
                reach.guarded();
                collectIfGuardsPileUp();
            }
        } finally {
            if (ownsFd) {
                Fds.close(fd);
            }
        }
        log.debug("closed shared memory \"{}\"", name);
    }

    /** Asks for a collection once another {@link #GC_THRESHOLD} of guards has piled up since the last request. */
    private static void collectIfGuardsPileUp() {
        long guarded = GUARDED_BYTES.get();
        long last = GUARDED_AT_LAST_GC.get();
        if (guarded - Math.min(last, guarded) >= GC_THRESHOLD && GUARDED_AT_LAST_GC.compareAndSet(last, guarded)) {
            log.debug("{} bytes of closed shared memory still guarded: asking for a garbage collection to release"
                    + " the guards no buffer reaches", guarded);
            System.gc();
        }
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

        /** True if the guard is in place (false: it could not be, and the range was unmapped instead). */
        static boolean replace(long address, long size) {
            long at = LIBC.mmap(Pointer.wrap(Native.runtime(), address), size, PROT_READ | PROT_WRITE,
                    MAP_SHARED | MAP_FIXED | MAP_NORESERVE, EMPTY_FD, 0);
            if (at == MAP_FAILED) {
                // Could not install the guard: fall back to a plain unmap.
                log.warn("could not guard closed memory at 0x{} ({}), unmapping it",
                        Long.toHexString(address), Native.error("mmap(MAP_FIXED)").getMessage());
                Native.check(LIBC.munmap(address, size), "munmap(0x" + Long.toHexString(address) + ", " + size + ")");
                return false;
            }
            return true;
        }
    }

    /**
     * Which buffers can still reach a region's address range: the guard of a closed region is
     * unmapped once none can. Shared with the cleaning actions, so it never refers to a buffer.
     */
    private static final class Reach {
        private final String name;
        private final long address;
        private final long size;
        private int live;          // root buffers not yet found unreachable
        private boolean guarded;   // closed, the guard in place
        private boolean released;

        Reach(String name, long address, long size) {
            this.name = name;
            this.address = address;
            this.size = size;
        }

        synchronized void bufferMade() {
            live++;
        }

        void bufferGone() {
            synchronized (this) {
                live--;
            }
            releaseIfUnreachable();
        }

        void guarded() {
            synchronized (this) {
                guarded = true;
            }
            GUARDED_BYTES.addAndGet(size);
            releaseIfUnreachable();
        }

        private void releaseIfUnreachable() {
            synchronized (this) {
                if (!guarded || live > 0 || released) {
                    return;
                }
                released = true;
            }
            if (LIBC.munmap(address, size) != 0) {
                log.warn("could not unmap the guard of closed shared memory \"{}\" at 0x{}: {}", name, Long.toHexString(address),
                        Native.error("munmap").getMessage());
                return;
            }
            long now = GUARDED_BYTES.addAndGet(-size);
            GUARDED_AT_LAST_GC.accumulateAndGet(now, Math::min);
            log.debug("released the guard of closed shared memory \"{}\" ({} bytes at 0x{}): no buffer reaches it",
                    name, size, Long.toHexString(address));
        }
    }
}
