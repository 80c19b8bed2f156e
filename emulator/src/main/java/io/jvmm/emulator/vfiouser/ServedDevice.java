package io.jvmm.emulator.vfiouser;

import io.jvmm.pci.PciDevice;
import io.jvmm.pci.mem.GuestMemory;
import io.jvmm.pci.msix.Msix;
import io.jvmm.platform.MachineServices;
import io.jvmm.virtio.VirtioDevice;
import io.jvmm.virtio.pci.VirtioPciDevice;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.Objects;
import java.util.function.Function;

/**
 * A PCI device prepared to be served over vfio-user: its guest memory (empty until a client maps
 * some), its interrupt sink signalling the client's eventfds, its regions and IRQs. Outlives client
 * connections: a client that goes away leaves the device as it was.
 */
public final class ServedDevice implements AutoCloseable {
    private final PciDevice pci;
    private final ServedServices services;
    private final DeviceIrqs irqs;
    private final PciRegions regions;

    ServedDevice(PciDevice pci, ServedServices services) {
        this.pci = pci;
        this.services = services;
        this.irqs = new DeviceIrqs(pci, pci.msixCapability(), services.vectors());
        this.regions = new PciRegions(pci, pci.msixCapability(), services.writeBound());
    }

    /**
     * A device built by {@code factory} with the services of a device served over vfio-user. A
     * factory that throws leaves nothing behind.
     */
    public static ServedDevice build(String id, Function<MachineServices, PciDevice> factory, MeterRegistry meters) {
        Objects.requireNonNull(factory, "factory");
        ServedServices services = new ServedServices(id, meters);
        try {
            PciDevice pci = Objects.requireNonNull(factory.apply(services), "the device factory returned no device");
            return new ServedDevice(pci, services);
        } catch (RuntimeException e) {
            services.close();
            throw e;
        }
    }

    /** A virtio device behind the virtio-pci transport (tests and embedders). */
    public static ServedDevice virtio(VirtioDevice device) {
        Objects.requireNonNull(device, "device");
        try {
            return build(device.id(), services -> new VirtioPciDevice(device, services), null);
        } catch (RuntimeException e) {
            device.close();
            throw e;
        }
    }

    public String id() {
        return pci.id();
    }

    public PciDevice pci() {
        return pci;
    }

    /** The device's guest memory: what the current client has mapped with fds. */
    public GuestMemory memory() {
        return services.memory();
    }

    /**
     * Interrupts signalled to a client eventfd so far. An interrupt is counted before its eventfd
     * is signalled, so it is never missing from the count once the client has seen it.
     */
    public long interruptsDelivered() {
        return services.vectors().delivered();
    }

    /** REGION_READ and REGION_WRITE commands served for region {@code index} (a mapped RAM BAR needs none). */
    public long regionAccesses(int index) {
        return regions.accesses(index);
    }

    /** The notifiers this device's services hand out (what vhost-user back-ends signal). */
    io.jvmm.pci.msix.GuestNotifiers guestNotifiers() {
        return services.guestNotifiers();
    }

    Msix msix() {
        return pci.msixCapability();
    }

    DeviceIrqs irqs() {
        return irqs;
    }

    PciRegions regions() {
        return regions;
    }

    /** Returns once no device work that may touch memory removed before the call is running. */
    void quiesce() {
        pci.quiesce();
    }

    /** The client changed its memory map (DMA_MAP, DMA_UNMAP) while the device may run. */
    void memoryChanged(String what) {
        pci.guestMemoryChanged(what);
    }

    /** Stops the device model and releases its memory (after the server has stopped). */
    @Override
    public void close() {
        irqs.releaseClient();
        try {
            pci.close();   // the device first: its back-end connection goes, nothing signals the notifiers after
        } finally {
            services.close();
        }
    }

    @Override
    public String toString() {
        return pci.toString();
    }
}
