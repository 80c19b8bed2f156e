package io.jvmm.devices.ivshmem;

import io.jvmm.chardev.SharedMemory;
import io.jvmm.pci.BarDefinition;
import io.jvmm.pci.BarKind;
import io.jvmm.pci.PciDevice;
import io.jvmm.pci.dispatch.IoCompletion;
import io.jvmm.pci.dispatch.IoHandler;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * QEMU's ivshmem PCI function (docs/specs/ivshmem-spec.rst), as guests written for QEMU expect it:
 * vendor 1af4, device 1110, revision 1, class 0500 (RAM), subsystem 1af4:1100.
 * <ul>
 * <li>BAR0, 256 bytes of 32-bit MMIO registers: {@code 0x00} IntrMask (read/write), {@code 0x04}
 *     IntrStatus (read/write, a read clears it), {@code 0x08} IVPosition (read-only: our id,
 *     0 for ivshmem-plain), {@code 0x0c} Doorbell (write-only: peer &lt;&lt; 16 | vector).</li>
 * <li>BAR1, MSI-X (ivshmem-doorbell only; see {@link IvshmemDoorbellDevice}).</li>
 * <li>BAR2, the shared memory, a 64-bit prefetchable RAM BAR (a KVM slot, mmap-able by a
 *     vfio-user client, a direct mapping with no CPU).</li>
 * </ul>
 * Registers are 32 bits; a narrower read sees the low bytes of the register at its offset, as in
 * QEMU; a write goes to the register at {@code offset & 0xfc}.
 */
public class IvshmemDevice extends PciDevice {
    public static final int VENDOR_ID = 0x1af4;
    public static final int DEVICE_ID = 0x1110;
    public static final int REVISION = 1;
    /** PCI_CLASS_MEMORY_RAM. */
    public static final int CLASS_CODE = 0x050000;
    public static final int SUBSYSTEM_VENDOR_ID = 0x1af4;
    public static final int SUBSYSTEM_ID = 0x1100;
    public static final int REGISTER_BAR = 0;
    public static final int MSIX_BAR = 1;
    public static final int MEMORY_BAR = 2;
    public static final int REGISTER_BAR_SIZE = 256;
    public static final int INTR_MASK = 0x00;
    public static final int INTR_STATUS = 0x04;
    public static final int IV_POSITION = 0x08;
    public static final int DOORBELL = 0x0c;

    private final SharedMemory memory;
    private final boolean ownsMemory;
    private final AtomicInteger intrMask = new AtomicInteger();
    private final AtomicInteger intrStatus = new AtomicInteger();
    private volatile int position;

    /**
     * @param memory     BAR2's memory, or null to define BAR2 later with {@link #defineMemoryBar}
     * @param ownsMemory whether {@link #close} closes it
     * @param position   what IVPosition reads
     */
    protected IvshmemDevice(String id, SharedMemory memory, boolean ownsMemory, int position) {
        super(id, VENDOR_ID, DEVICE_ID, CLASS_CODE, REVISION, SUBSYSTEM_VENDOR_ID, SUBSYSTEM_ID);
        this.memory = memory;
        this.ownsMemory = ownsMemory;
        this.position = position;
        defineBar(REGISTER_BAR, BarDefinition.mem32(REGISTER_BAR_SIZE, new Registers()));
        if (memory != null) {
            defineMemoryBar(BarDefinition.ram(BarKind.MEM64, memory, true));
        }
    }

    /** {@code -device ivshmem-plain,memdev=M}: BAR0 and BAR2; IVPosition reads 0, the doorbell is ignored. */
    public static IvshmemDevice plain(String id, SharedMemory memory, boolean ownsMemory) {
        return new IvshmemDevice(id, memory, ownsMemory, 0);
    }

    protected final void defineMemoryBar(BarDefinition bar) {
        defineBar(MEMORY_BAR, bar);
    }

    /** BAR2's memory as the host sees it (null while an asynchronous setup has not delivered it). */
    public SharedMemory memory() {
        return memory;
    }

    /** What IVPosition reads: the id the server gave, 0 without a server, -1 before an asynchronous setup ends. */
    public int position() {
        return position;
    }

    protected final void setPosition(int id) {
        position = id;
    }

    /**
     * A peer rang us on {@code vector} while MSI-X is not in use: what a revision-0 device did
     * with INTx (IntrStatus bit 0); kept so the register behaves as QEMU's.
     */
    protected final void setIntrStatus(int value) {
        intrStatus.set(value);
    }

    /** A doorbell write that no I/O event took (ivshmem-plain: ignored, as in QEMU). */
    protected void doorbell(long value) {
    }

    @Override
    protected void reset() {
        intrMask.set(0);
        intrStatus.set(0);
    }

    @Override
    public void close() {
        if (ownsMemory && memory != null) {
            memory.close();
        }
    }

    /** BAR0. */
    private final class Registers implements IoHandler {
        @Override
        public long read(long offset, int size) {
            long value = switch ((int) offset) {
                case INTR_MASK -> intrMask.get();
                case INTR_STATUS -> intrStatus.getAndSet(0);
                case IV_POSITION -> position;
                default -> 0;
            };
            return size >= 4 ? value & 0xffffffffL : value & ((1L << (8 * size)) - 1);
        }

        @Override
        public CompletableFuture<Void> write(long offset, int size, long value) {
            int v = (int) value;
            switch ((int) offset & 0xfc) {
                case INTR_MASK -> intrMask.set(v);
                case INTR_STATUS -> intrStatus.set(v);
                case DOORBELL -> doorbell(value & 0xffffffffL);
                default -> {
                    // IVPosition is read-only; the rest is reserved
                }
            }
            return IoCompletion.DONE;
        }
    }
}
