package io.jvmm.pci.dispatch;

import io.jvmm.chardev.SharedMemory;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An address space (MMIO or port I/O) where devices register regions, and the dispatcher vCPU
 * exits go through.
 *
 * <p>Lookups run on every exit from every vCPU, registrations are rare (BAR programming), so the
 * regions live in an immutable sorted snapshot read through one volatile field: a lookup is a
 * lock-free binary search, a registration change builds and publishes a new snapshot.
 */
public final class IoSpace {

    /** Size of the MMIO space: 52 bits of guest-physical address. */
    public static final long MMIO_SIZE = 1L << 52;
    /** Size of the x86 port I/O space. */
    public static final long PIO_SIZE = 0x10000;

    private static final Logger log = LoggerFactory.getLogger(IoSpace.class);

    private final String name;
    private final long size;
    private final Object writeLock = new Object();
    private volatile Snapshot snapshot = new Snapshot(new long[0], new IoRegion[0]);
    private final List<Listener> listeners = new CopyOnWriteArrayList<>();

    /**
     * Told of every region added to or removed from the space, after the change (like QEMU's
     * MemoryListener): a KVM machine maps RAM regions into the guest this way.
     */
    public interface Listener {
        void regionAdded(IoRegion region);

        void regionRemoved(IoRegion region);
    }

    /** Sorted, non-overlapping regions; {@code bases[i] == regions[i].base()}. Never mutated. */
    private record Snapshot(long[] bases, IoRegion[] regions) {
    }

    public IoSpace(String name, long size) {
        this.name = Objects.requireNonNull(name, "name");
        if (size <= 0) {
            throw new IllegalArgumentException("I/O space '" + name + "': size must be positive, got " + size);
        }
        this.size = size;
    }

    /** The MMIO space: "mmio", 2^52 bytes. */
    public static IoSpace mmio() {
        return new IoSpace("mmio", MMIO_SIZE);
    }

    /** The port I/O space: "pio", 64 KiB. */
    public static IoSpace pio() {
        return new IoSpace("pio", PIO_SIZE);
    }

    public String name() {
        return name;
    }

    public long size() {
        return size;
    }

    /**
     * Registers {@code handler} for {@code [base, base + length)}.
     *
     * @throws IllegalArgumentException if the range is empty, outside the space, or overlaps a
     *     registered region (the message names both owners and ranges)
     */
    public IoRegion register(String owner, long base, long length, IoHandler handler) {
        return register(owner, base, length, handler, null);
    }

    /** As {@link #register(String, long, long, IoHandler)}, for a region that is {@code ram} (null: registers). */
    public IoRegion register(String owner, long base, long length, IoHandler handler, SharedMemory ram) {
        Objects.requireNonNull(owner, "owner");
        Objects.requireNonNull(handler, "handler");
        if (length <= 0 || base < 0 || base > size - length) {
            throw new IllegalArgumentException(String.format(
                    "%s: region of '%s' at 0x%x length 0x%x is outside the space [0x0-0x%x]",
                    name, owner, base, length, size - 1));
        }
        IoRegion region = new IoRegion(owner, base, length, handler, ram);
        synchronized (writeLock) {
            Snapshot s = snapshot;
            int insertAt = insertionPoint(s.bases, base);
            if (insertAt > 0 && s.regions[insertAt - 1].end() > base) {
                throw overlap(region, s.regions[insertAt - 1]);
            }
            if (insertAt < s.regions.length && s.regions[insertAt].base() < region.end()) {
                throw overlap(region, s.regions[insertAt]);
            }
            int n = s.regions.length;
            long[] bases = new long[n + 1];
            IoRegion[] regions = new IoRegion[n + 1];
            System.arraycopy(s.bases, 0, bases, 0, insertAt);
            System.arraycopy(s.regions, 0, regions, 0, insertAt);
            bases[insertAt] = base;
            regions[insertAt] = region;
            System.arraycopy(s.bases, insertAt, bases, insertAt + 1, n - insertAt);
            System.arraycopy(s.regions, insertAt, regions, insertAt + 1, n - insertAt);
            snapshot = new Snapshot(bases, regions);
            for (Listener l : listeners) {   // under the lock: listeners see changes in order
                l.regionAdded(region);
            }
        }
        log.debug("{}: registered {}", name, region);
        return region;
    }

    private IllegalArgumentException overlap(IoRegion wanted, IoRegion existing) {
        return new IllegalArgumentException(name + ": region " + wanted + " overlaps region " + existing);
    }

    /** Removes {@code region} (the instance {@link #register} returned); does nothing if absent. */
    public void unregister(IoRegion region) {
        if (region == null) {
            return;
        }
        synchronized (writeLock) {
            Snapshot s = snapshot;
            int index = -1;
            for (int i = 0; i < s.regions.length; i++) {
                if (s.regions[i] == region) {
                    index = i;
                    break;
                }
            }
            if (index < 0) {
                return;
            }
            int n = s.regions.length;
            long[] bases = new long[n - 1];
            IoRegion[] regions = new IoRegion[n - 1];
            System.arraycopy(s.bases, 0, bases, 0, index);
            System.arraycopy(s.regions, 0, regions, 0, index);
            System.arraycopy(s.bases, index + 1, bases, index, n - index - 1);
            System.arraycopy(s.regions, index + 1, regions, index, n - index - 1);
            snapshot = new Snapshot(bases, regions);
            for (Listener l : listeners) {
                l.regionRemoved(region);
            }
        }
        log.debug("{}: unregistered {}", name, region);
    }

    /** Adds a listener; it is told of the regions already registered first. */
    public void addListener(Listener listener) {
        Objects.requireNonNull(listener, "listener");
        synchronized (writeLock) {
            listeners.add(listener);
            for (IoRegion r : snapshot.regions) {
                listener.regionAdded(r);
            }
        }
    }

    /** The region containing {@code address}, if any. */
    public Optional<IoRegion> find(long address) {
        return Optional.ofNullable(lookup(address));
    }

    /** Every registered region, sorted by base. */
    public List<IoRegion> regions() {
        return List.of(snapshot.regions);
    }

    /**
     * Reads {@code size} bytes at {@code address}. An unassigned address, or an access running
     * past the end of the region it starts in, reads all ones (as on a PC bus), zero-extended.
     */
    public long read(long address, int size) {
        checkSize(address, size);
        IoRegion region = lookup(address);
        if (region == null || address + size > region.end()) {
            log.debug("{}: read of {} bytes at unassigned 0x{} -> all ones", name, size, Long.toHexString(address));
            return allOnes(size);
        }
        return region.handler().read(address - region.base(), size) & allOnes(size);
    }

    /**
     * Writes the low {@code size} bytes of {@code value} at {@code address}. Returns what the
     * handler returned (the vCPU waits on it); an unassigned write is dropped and returns
     * {@link IoCompletion#DONE}.
     */
    public CompletableFuture<Void> write(long address, int size, long value) {
        checkSize(address, size);
        IoRegion region = lookup(address);
        if (region == null || address + size > region.end()) {
            log.debug("{}: write of {} bytes 0x{} at unassigned 0x{} dropped",
                    name, size, Long.toHexString(value & allOnes(size)), Long.toHexString(address));
            return IoCompletion.DONE;
        }
        CompletableFuture<Void> done = region.handler().write(address - region.base(), size, value & allOnes(size));
        if (done == null) {
            throw new IllegalStateException(name + ": handler of " + region + " returned a null completion");
        }
        return done;
    }

    /** All ones in the low {@code size} bytes. */
    public static long allOnes(int size) {
        return size == 8 ? -1L : (1L << (size * 8)) - 1;
    }

    /** Checks an access size is 1, 2, 4 or 8. */
    public static void checkAccessSize(String what, int size) {
        if (size != 1 && size != 2 && size != 4 && size != 8) {
            throw new IllegalArgumentException(what + ": access size must be 1, 2, 4 or 8, got " + size);
        }
    }

    private void checkSize(long address, int size) {
        if (size != 1 && size != 2 && size != 4 && size != 8) {
            checkAccessSize(name + " access at 0x" + Long.toHexString(address), size);
        }
    }

    private IoRegion lookup(long address) {
        Snapshot s = snapshot;
        int i = insertionPoint(s.bases, address) - 1;
        if (i < 0) {
            return null;
        }
        IoRegion region = s.regions[i];
        return region.contains(address) ? region : null;
    }

    /** Index of the first base greater than {@code address}. */
    private static int insertionPoint(long[] bases, long address) {
        int found = Arrays.binarySearch(bases, address);
        return found >= 0 ? found + 1 : -found - 1;
    }

    @Override
    public String toString() {
        return "IoSpace[" + name + ", " + snapshot.regions.length + " regions]";
    }
}
