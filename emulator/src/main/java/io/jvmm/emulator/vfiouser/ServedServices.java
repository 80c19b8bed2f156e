package io.jvmm.emulator.vfiouser;

import io.jvmm.pci.mem.GuestMemory;
import io.jvmm.platform.InProcessServices;
import io.micrometer.core.instrument.MeterRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The machine services of one device served over vfio-user: each device has its own client, so
 * its own guest memory (what that client maps with DMA_MAP), its own interrupt sink (the client's
 * eventfds, {@link VectorEventFds}) and its own guest notifiers ({@link ServedGuestNotifiers}).
 * I/O events are matched on the trapped REGION_WRITE; a RAM BAR is a region the client mmaps. A
 * served device does not end the process: an exit request is logged.
 */
final class ServedServices extends InProcessServices {
    private static final Logger log = LoggerFactory.getLogger(ServedServices.class);

    ServedServices(String deviceId, MeterRegistry meters) {
        super("vfio-user", new GuestMemory(), new VectorEventFds(deviceId), meters,
                (status, reason) -> log.warn("{}: exit requested with status {} ({}); a device served over vfio-user does not end "
                        + "the process", deviceId, status, reason), new ServedGuestNotifiers());
    }

    VectorEventFds vectors() {
        return (VectorEventFds) sink();
    }

    /** After the device is closed (nothing signals the notifiers any more): notifiers, then the memory. */
    @Override
    public void close() {
        super.close();
        memory().close();
    }
}
