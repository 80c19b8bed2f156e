package io.jvmm.testkit.testdev;

import io.jvmm.chardev.EventContext;
import io.jvmm.chardev.EventFd;
import io.jvmm.chardev.Registration;
import io.jvmm.chardev.SharedMemory;
import io.jvmm.pci.BarDefinition;
import io.jvmm.pci.BarKind;
import io.jvmm.pci.IoEvent;
import io.jvmm.pci.PciDevice;
import io.jvmm.pci.dispatch.IoCompletion;
import io.jvmm.pci.dispatch.IoHandler;
import io.jvmm.pci.msix.Msix;
import io.jvmm.platform.MachineServices;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * {@code jvmm-testdev}: the smallest non-virtio PCI device that uses every machine service a
 * device can, so the platform is proven the same in each machine (like QEMU's pci-testdev).
 * <ul>
 * <li>BAR0, registers: {@code 0x00} magic "JVMT" (read-only), {@code 0x04} doorbell (a 4-byte
 *     write is an {@link IoEvent}: an ioeventfd under KVM, no exit), {@code 0x08} doorbells seen,
 *     {@code 0x0c} BAR2's size, {@code 0x10} MSI-X vectors.</li>
 * <li>BAR1: MSI-X table (offset 0) and PBA (offset 2048); the host raises a vector with
 *     {@link #raise}, through the machine's guest notifier (an irqfd under KVM).</li>
 * <li>BAR2: RAM, the device's shared memory (a KVM slot; mmap-able over vfio-user; a direct
 *     mapping with no CPU): what the guest writes the host reads in {@link #ram}, and back.</li>
 * </ul>
 */
public final class TestPciDevice extends PciDevice {
    public static final int VENDOR_ID = 0x1af4;
    public static final int DEVICE_ID = 0x10fe;
    public static final int CLASS_CODE = 0xff0000;
    public static final int MAGIC = 0x544d564a;   // "JVMT"
    public static final int REG_MAGIC = 0x00;
    public static final int REG_DOORBELL = 0x04;
    public static final int REG_DOORBELLS = 0x08;
    public static final int REG_RAM_SIZE = 0x0c;
    public static final int REG_VECTORS = 0x10;
    public static final int REGISTER_BAR = 0;
    public static final int MSIX_BAR = 1;
    public static final int RAM_BAR = 2;
    static final long MSIX_PBA_OFFSET = 2048;

    private final SharedMemory ram;
    private final boolean ownsRam;
    private final Msix msix;
    private final MachineServices services;
    private final EventContext context;
    private final EventFd doorbell = EventFd.create();
    private final Registration doorbellWatch;
    private final Object doorbellsLock = new Object();
    private long doorbells;   // guarded by doorbellsLock

    /**
     * @param ram     the memory BAR2 shows (a power of two of at least 4 KiB)
     * @param ownsRam whether {@link #close} closes it
     */
    public TestPciDevice(String id, SharedMemory ram, boolean ownsRam, int vectors, MachineServices services) {
        super(id, VENDOR_ID, DEVICE_ID, CLASS_CODE, 1, VENDOR_ID, DEVICE_ID);
        this.ram = ram;
        this.ownsRam = ownsRam;
        this.services = services;
        this.context = EventContext.start("testdev-" + id);
        try {
            defineBar(REGISTER_BAR, BarDefinition.mem32(4096, new Registers()));
            this.msix = services.msix(id, vectors, context);
            defineBar(MSIX_BAR, BarDefinition.mem32(4096, new MsixRegion()));
            msix.install(this, MSIX_BAR, 0, MSIX_BAR, MSIX_PBA_OFFSET);
            defineBar(RAM_BAR, BarDefinition.ram(BarKind.MEM64, ram, true));
            addIoEvent(IoEvent.any(REGISTER_BAR, REG_DOORBELL, 4, doorbell));
            this.doorbellWatch = context.addEventFd(doorbell, id + " doorbell", this::rang);
        } catch (RuntimeException e) {
            context.close();
            doorbell.close();
            throw e;
        }
    }

    private void rang(long count) {
        synchronized (doorbellsLock) {
            doorbells += count;
            doorbellsLock.notifyAll();
        }
    }

    /** BAR2's memory, as the host sees it. */
    public SharedMemory ram() {
        return ram;
    }

    /** Doorbell writes the device has seen (each arrives through its eventfd). */
    public long doorbells() {
        synchronized (doorbellsLock) {
            return doorbells;
        }
    }

    /** Waits until at least {@code count} doorbells were seen; false on timeout. */
    public boolean awaitDoorbells(long count, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (doorbellsLock) {
            while (doorbells < count) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                TimeUnit.NANOSECONDS.timedWait(doorbellsLock, left);
            }
            return true;
        }
    }

    /**
     * Raises MSI-X {@code vector} the way an eventfd source outside the VMM would: by signalling
     * the machine's guest notifier for it (under KVM the irqfd itself).
     */
    public void raise(int vector) {
        services.guestNotifiers().notifier(msix, vector).signal();
    }

    public Msix msix() {
        return msix;
    }

    @Override
    public void close() {
        doorbellWatch.cancel();
        context.close();
        doorbell.close();
        if (ownsRam) {
            ram.close();
        }
    }

    /** BAR0. */
    private final class Registers implements IoHandler {
        @Override
        public long read(long offset, int size) {
            long value = switch ((int) offset) {
                case REG_MAGIC -> MAGIC;
                case REG_DOORBELLS -> doorbells();
                case REG_RAM_SIZE -> ram.size() & 0xffffffffL;
                case REG_VECTORS -> msix.vectorCount();
                default -> 0;
            };
            return size == 8 ? value : value & ((1L << (8 * size)) - 1);
        }

        /** A doorbell of another width than 4 bytes still rings (the same eventfd). */
        @Override
        public CompletableFuture<Void> write(long offset, int size, long value) {
            if (offset == REG_DOORBELL) {
                doorbell.signal();
            }
            return IoCompletion.DONE;
        }
    }

    /** BAR1: the table, then the PBA at {@link #MSIX_PBA_OFFSET}. */
    private final class MsixRegion implements IoHandler {
        @Override
        public long read(long offset, int size) {
            return offset >= MSIX_PBA_OFFSET ? pbaRead(offset - MSIX_PBA_OFFSET, size) : tableRead(offset, size);
        }

        private long tableRead(long offset, int size) {
            return offset + size <= msix.tableSize() ? msix.tableHandler().read(offset, size) : 0;
        }

        private long pbaRead(long offset, int size) {
            return offset + size <= msix.pbaSize() ? msix.pbaHandler().read(offset, size) : 0;
        }

        @Override
        public CompletableFuture<Void> write(long offset, int size, long value) {
            if (offset < MSIX_PBA_OFFSET && offset + size <= msix.tableSize()) {
                return msix.tableHandler().write(offset, size, value);
            }
            return IoCompletion.DONE;
        }
    }
}
