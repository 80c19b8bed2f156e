package io.jvmm.emulator.vfiouser;

import io.jvmm.chardev.SharedMemory;
import io.jvmm.pci.BarKind;
import io.jvmm.pci.ConfigSpace;
import io.jvmm.pci.PciDevice;
import io.jvmm.pci.dispatch.IoCompletion;
import io.jvmm.pci.msix.Msix;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicLongArray;
import jnr.constants.platform.Errno;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A {@link PciDevice} seen as VFIO regions: BAR0-5 (indexes 0-5), the expansion ROM (6), config
 * space (7) and legacy VGA (8). Region accesses go straight to the device's config-space and BAR
 * handlers; the device is not on any bus, because the client places the BARs in its guest.
 *
 * <p>Accesses of any length are cut into naturally aligned pieces of 1, 2, 4 or 8 bytes (4 at most
 * in config space), as a CPU would issue them. Two ranges are the client's, not the guest's: the
 * MSI-X message control word (the client enables MSI-X through SET_IRQS, see {@link DeviceIrqs})
 * and the MSI-X table (the client emulates it); writes there are dropped.
 *
 * <p>A RAM BAR is offered for mmap: its region info carries the memory's fd, MMAP, and a sparse
 * mmap capability covering the whole BAR, so the client maps it into its guest and accesses never
 * cross the socket (REGION_READ/WRITE to it still work, and are counted, see {@link #accesses}).
 */
final class PciRegions {
    private static final Logger log = LoggerFactory.getLogger(PciRegions.class);

    static final int BAR_COUNT = 6;
    static final int ROM = 6;
    static final int CONFIG = 7;
    static final int VGA = 8;
    static final int COUNT = 9;

    static final int FLAG_READ = 1;
    static final int FLAG_WRITE = 2;
    static final int FLAG_MMAP = 4;
    static final int FLAG_CAPS = 8;

    /**
     * GET_REGION_INFO's answer for one index.
     *
     * @param ram the shared memory a client may mmap (MMAP set), or null
     */
    record RegionInfo(int flags, long size, SharedMemory ram) {
        RegionInfo(int flags, long size) {
            this(flags, size, null);
        }
    }

    private final PciDevice device;
    private final Msix msix;
    private final Duration writeTimeout;
    private final AtomicLongArray accesses = new AtomicLongArray(COUNT);

    PciRegions(PciDevice device, Msix msix, Duration writeTimeout) {
        this.device = device;
        this.msix = msix;
        this.writeTimeout = writeTimeout;
    }

    RegionInfo info(int index) {
        if (index < 0 || index >= COUNT) {
            throw new VfioUserException(Errno.EINVAL, "region index " + Integer.toUnsignedString(index)
                    + " does not exist (0.." + (COUNT - 1) + ")");
        }
        if (index == CONFIG) {
            return new RegionInfo(FLAG_READ | FLAG_WRITE, ConfigSpace.SIZE);
        }
        if (index < BAR_COUNT) {
            return device.bar(index).map(b -> b.isRam()
                    ? new RegionInfo(FLAG_READ | FLAG_WRITE | FLAG_MMAP | FLAG_CAPS, b.size(), b.ram())
                    : new RegionInfo(FLAG_READ | FLAG_WRITE, b.size())).orElse(new RegionInfo(0, 0));
        }
        return new RegionInfo(0, 0);   // no expansion ROM, no VGA
    }

    /** REGION_READ: {@code count} bytes at {@code offset} of region {@code index}. */
    byte[] read(int index, long offset, int count) {
        checkRange(index, offset, count, "read");
        accesses.incrementAndGet(index);
        byte[] out = new byte[count];
        forEachPiece(index, offset, count, (pieceOffset, size, at) -> {
            long value = index == CONFIG ? device.configRead((int) pieceOffset, size) : device.barRead(index, pieceOffset, size);
            for (int i = 0; i < size; i++) {
                out[at + i] = (byte) (value >>> (8 * i));
            }
            return IoCompletion.DONE;
        });
        return out;
    }

    /**
     * REGION_WRITE: the bytes at {@code offset} of region {@code index}. Returns once every piece
     * has completed, including what a piece hands back for the vCPU to wait on (rule 1).
     */
    void write(int index, long offset, byte[] data) {
        checkRange(index, offset, data.length, "write");
        accesses.incrementAndGet(index);
        forEachPiece(index, offset, data.length, (pieceOffset, size, at) -> {
            long value = 0;
            for (int i = 0; i < size; i++) {
                value |= (data[at + i] & 0xffL) << (8 * i);
            }
            if (index == CONFIG) {
                if (reservedConfig(pieceOffset, size)) {
                    return writeConfigAround(pieceOffset, size, value);
                }
                return device.configWrite((int) pieceOffset, size, (int) value);
            }
            if (msixTable(index, pieceOffset, size)) {
                log.debug("{}: dropped a {}-byte client write to the MSI-X table at BAR{}+0x{} (the client emulates it)",
                        device.id(), size, index, Long.toHexString(pieceOffset));
                return IoCompletion.DONE;
            }
            return device.barWrite(index, pieceOffset, size, value);
        });
    }

    private interface Piece {
        CompletableFuture<Void> access(long offset, int size, int at);
    }

    /** Cuts [offset, offset + count) into aligned accesses and runs them in order, waiting for each. */
    private void forEachPiece(int index, long offset, int count, Piece piece) {
        int max = index == CONFIG ? 4 : 8;
        int at = 0;
        while (at < count) {
            long o = offset + at;
            int size = max;
            while (size > 1 && ((o & (size - 1)) != 0 || size > count - at)) {
                size >>= 1;
            }
            CompletableFuture<Void> done = piece.access(o, size, at);
            if (done != IoCompletion.DONE) {   // the description only when there is something to wait for (JFR: String.format
                                               // was most of this thread's CPU per doorbell), and formatted only on failure
                int accessSize = size;
                long accessOffset = o;
                IoCompletion.await(done, writeTimeout, () -> String.format("%s region %d access of %d bytes at 0x%x",
                        device.id(), index, accessSize, accessOffset));
            }
            at += size;
        }
    }

    private void checkRange(int index, long offset, int count, String what) {
        RegionInfo info = info(index);
        int needed = what.equals("read") ? FLAG_READ : FLAG_WRITE;
        if ((info.flags() & needed) == 0) {
            throw new VfioUserException(Errno.EINVAL, "region " + index + " of " + device.id() + " cannot be " + what
                    + (what.equals("read") ? "" : "ten") + " (it is not implemented)");
        }
        if (count <= 0 || offset < 0 || offset > info.size() - count) {
            throw new VfioUserException(Errno.EINVAL, String.format("%s of %d bytes at 0x%x is outside region %d (size 0x%x)",
                    what, count, offset, index, info.size()));
        }
    }

    /** REGION_READ and REGION_WRITE commands served for region {@code index}. */
    long accesses(int index) {
        return accesses.get(index);
    }

    /** Whether a config access touches the MSI-X message control word. */
    private boolean reservedConfig(long offset, int size) {
        if (msix == null || msix.capabilityOffset() < 0) {
            return false;
        }
        int control = msix.capabilityOffset() + 2;
        return offset < control + 2 && control < offset + size;
    }

    /** Writes the bytes of a config access that are not the MSI-X message control, one by one. */
    private CompletableFuture<Void> writeConfigAround(long offset, int size, long value) {
        log.debug("{}: client write to the MSI-X message control dropped (the client enables MSI-X with SET_IRQS)", device.id());
        java.util.List<CompletableFuture<Void>> waits = new java.util.ArrayList<>();
        for (int i = 0; i < size; i++) {
            if (!reservedConfig(offset + i, 1)) {
                waits.add(device.configWrite((int) offset + i, 1, (int) (value >>> (8 * i)) & 0xff));
            }
        }
        return IoCompletion.all(waits);
    }

    /** Whether a BAR access touches the MSI-X table, as the capability places it. */
    private boolean msixTable(int index, long offset, int size) {
        if (msix == null || msix.capabilityOffset() < 0) {
            return false;
        }
        int tableRegister = device.configRead(msix.capabilityOffset() + 4, 4);
        if ((tableRegister & 7) != index) {
            return false;
        }
        long tableOffset = tableRegister & 0xFFFFFFF8L;
        return offset < tableOffset + msix.tableSize() && tableOffset < offset + size;
    }

    /** For logs: which kind of BAR a region is. */
    String describe(int index) {
        if (index == CONFIG) {
            return "config space";
        }
        if (index < BAR_COUNT) {
            return device.bar(index).map(b -> "BAR" + index + " (" + (b.kind() == BarKind.IO ? "I/O" : "memory") + ")")
                    .orElse("BAR" + index + " (not implemented)");
        }
        return index == ROM ? "expansion ROM" : index == VGA ? "VGA" : "region " + index;
    }
}
