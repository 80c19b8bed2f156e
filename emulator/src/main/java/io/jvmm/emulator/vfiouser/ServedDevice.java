package io.jvmm.emulator.vfiouser;

import io.jvmm.pci.PciDevice;
import io.jvmm.pci.mem.GuestMemory;
import io.jvmm.pci.msix.Msix;
import io.jvmm.virtio.DeviceStatus;
import io.jvmm.virtio.VirtioDevice;
import io.jvmm.virtio.vhost.GuestNotifiers;
import io.jvmm.virtio.vhost.frontend.VhostUserDevice;
import io.jvmm.virtio.pci.VirtioPciDevice;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.BooleanSupplier;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A PCI device model prepared to be served over vfio-user: its guest memory (empty until a
 * client maps some), its interrupt sink signalling the client's eventfds, its regions and IRQs.
 * Outlives client connections: a client that goes away leaves the device as it was.
 */
public final class ServedDevice implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ServedDevice.class);
    private static final Duration QUIESCE_TIMEOUT = Duration.ofSeconds(30);

    private final PciDevice pci;
    private final Msix msix;
    private final GuestMemory memory;
    private final VectorEventFds vectors;
    private final DeviceIrqs irqs;
    private final PciRegions regions;
    private final Runnable quiesce;
    private final BooleanSupplier backendHasMemoryTable;
    private final Runnable closer;

    private ServedDevice(PciDevice pci, Msix msix, GuestMemory memory, VectorEventFds vectors, Runnable quiesce,
                         BooleanSupplier backendHasMemoryTable, Runnable closer) {
        this.pci = pci;
        this.msix = msix;
        this.memory = memory;
        this.vectors = vectors;
        this.irqs = new DeviceIrqs(pci, msix, vectors);
        this.regions = new PciRegions(pci, msix, Duration.ofSeconds(30));
        this.quiesce = quiesce;
        this.backendHasMemoryTable = backendHasMemoryTable;
        this.closer = closer;
    }

    /** A virtio device behind the virtio-pci transport, over memory that DMA_MAP will fill. */
    public static ServedDevice virtio(VirtioDevice device) {
        Objects.requireNonNull(device, "device");
        return virtio(device, null);
    }

    /**
     * A virtio device that needs {@link GuestNotifiers} (a vhost-user device routes its back-end's
     * call fds to them): {@code factory} builds it with this device's notifiers, one stable
     * eventfd per vector forwarded into the vector (see {@link ServedGuestNotifiers}). A factory
     * that throws leaves nothing behind.
     */
    public static ServedDevice virtio(Function<GuestNotifiers, ? extends VirtioDevice> factory) {
        Objects.requireNonNull(factory, "factory");
        ServedGuestNotifiers notifiers = new ServedGuestNotifiers();
        try {
            VirtioDevice device = Objects.requireNonNull(factory.apply(notifiers), "the device factory returned no device");
            return virtio(device, notifiers);
        } catch (RuntimeException e) {
            notifiers.close();
            throw e;
        }
    }

    private static ServedDevice virtio(VirtioDevice device, ServedGuestNotifiers notifiers) {
        GuestMemory memory = new GuestMemory();
        VectorEventFds vectors = new VectorEventFds(device.id());
        VirtioPciDevice pci;
        try {
            pci = new VirtioPciDevice(device, memory, vectors);
        } catch (RuntimeException e) {
            device.close();
            throw e;
        }
        Runnable quiesce = () -> {
            // Queue work runs on the device's context: once a no-op has run there, no access that
            // started before the memory left the guest memory is still going.
            try {
                pci.context().submit(() -> null).get(QUIESCE_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (ExecutionException | TimeoutException e) {
                log.warn("{}: the device context did not quiesce: {}", device.id(), e.toString());
            }
        };
        // A vhost-user back-end maps the memory itself, from the table it was sent at DRIVER_OK.
        BooleanSupplier backendHasMemoryTable = device instanceof VhostUserDevice
                ? () -> (pci.status() & DeviceStatus.DRIVER_OK) != 0 : () -> false;
        return new ServedDevice(pci, pci.msix(), memory, vectors, quiesce, backendHasMemoryTable, () -> {
            pci.close();   // the device first: its back-end connection goes, nothing signals the notifiers after
            if (notifiers != null) {
                notifiers.close();
            }
            memory.close();
        });
    }

    public String id() {
        return pci.id();
    }

    public PciDevice pci() {
        return pci;
    }

    /** The device's guest memory: what the current client has mapped with fds. */
    public GuestMemory memory() {
        return memory;
    }

    /**
     * Interrupts signalled to a client eventfd so far. An interrupt is counted before its eventfd
     * is signalled, so it is never missing from the count once the client has seen it.
     */
    public long interruptsDelivered() {
        return vectors.delivered();
    }

    Msix msix() {
        return msix;
    }

    DeviceIrqs irqs() {
        return irqs;
    }

    PciRegions regions() {
        return regions;
    }

    /** Returns once no device work that may touch memory removed before the call is running. */
    void quiesce() {
        quiesce.run();
    }

    /**
     * The client changed its memory map (DMA_MAP, DMA_UNMAP). A device whose queues a vhost-user
     * back-end serves gave that back-end the memory table at DRIVER_OK, and it keeps it (and its
     * own mappings) until the device is reset: say so, since the back-end may then still use a
     * range the client took away, or not see a new one. QEMU changes its map only while the
     * firmware runs, before any driver starts the device.
     */
    void memoryChanged(String what) {
        if (backendHasMemoryTable.getAsBoolean()) {
            log.warn("{}: {} while the device runs: its vhost-user back-end keeps the memory table of DRIVER_OK until the "
                    + "device is reset", id(), what);
        }
    }

    /** Stops the device model and releases its memory (after the server has stopped). */
    @Override
    public void close() {
        irqs.releaseClient();
        closer.run();
    }

    @Override
    public String toString() {
        return pci.toString();
    }
}
