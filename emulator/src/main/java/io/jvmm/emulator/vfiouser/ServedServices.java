package io.jvmm.emulator.vfiouser;

import io.jvmm.chardev.EventContext;
import io.jvmm.pci.mem.GuestMemory;
import io.jvmm.pci.msix.GuestNotifiers;
import io.jvmm.pci.msix.Msix;
import io.jvmm.platform.MachineServices;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The machine services of one device served over vfio-user: each device has its own client, so
 * its own guest memory (what that client maps with DMA_MAP), its own interrupt sink (the client's
 * eventfds, {@link VectorEventFds}) and its own guest notifiers ({@link ServedGuestNotifiers}).
 * I/O events are matched on the trapped REGION_WRITE; a RAM BAR is a region the client mmaps.
 */
final class ServedServices implements MachineServices, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ServedServices.class);

    private final String deviceId;
    private final GuestMemory memory = new GuestMemory();
    private final VectorEventFds vectors;
    private final ServedGuestNotifiers notifiers = new ServedGuestNotifiers();
    private final MeterRegistry meters;

    ServedServices(String deviceId, MeterRegistry meters) {
        this.deviceId = deviceId;
        this.vectors = new VectorEventFds(deviceId);
        this.meters = meters == null ? new SimpleMeterRegistry() : meters;
    }

    @Override
    public String kind() {
        return "vfio-user";
    }

    @Override
    public GuestMemory memory() {
        return memory;
    }

    @Override
    public Msix msix(String id, int vectorCount, EventContext context) {
        return new Msix(id, vectorCount, vectors);
    }

    @Override
    public GuestNotifiers guestNotifiers() {
        return notifiers;
    }

    @Override
    public MeterRegistry meters() {
        return meters;
    }

    /** A served device has no machine of its own to end: the client's guest decides. */
    @Override
    public void requestExit(int status, String reason) {
        log.warn("{}: exit requested with status {} ({}); a device served over vfio-user does not end the process",
                deviceId, status, reason);
    }

    VectorEventFds vectors() {
        return vectors;
    }

    /** After the device is closed (nothing signals the notifiers any more): notifiers, then the memory. */
    @Override
    public void close() {
        notifiers.close();
        memory.close();
    }
}
