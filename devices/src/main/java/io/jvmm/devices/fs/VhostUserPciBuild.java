package io.jvmm.devices.fs;

import io.jvmm.chardev.SocketChardevSpec;
import io.jvmm.platform.BuiltDevice;
import io.jvmm.platform.MachineServices;
import io.jvmm.platform.options.UserError;
import io.jvmm.virtio.pci.VirtioPciDevice;
import io.jvmm.virtio.vhost.frontend.VhostUserDevice;
import io.jvmm.virtio.vhost.frontend.VhostUserMetrics;
import java.time.Duration;
import java.util.function.Function;

/**
 * The build shared by the vhost-user PCI device types (vhost-user-fs-pci, vhost-user-rng-pci): the
 * reply timeout checked against the machine's bound on a guest write, the front-end realised
 * against its back-end (a failure names the chardev and what should be listening there), and the
 * virtio-pci transport around it.
 */
public final class VhostUserPciBuild {
    private VhostUserPciBuild() {
    }

    /**
     * @param backendHint what should be running on the socket, for the error (e.g. "virtiofsd")
     * @param realize     connects and sets up the front-end with the device's meters
     */
    public static BuiltDevice build(String driver, String id, SocketChardevSpec chardev, Duration replyTimeout, String backendHint,
                                    MachineServices services, Function<VhostUserMetrics, VhostUserDevice> realize) {
        if (replyTimeout.compareTo(services.writeBound()) >= 0) {
            throw new UserError("-device " + driver + ",id=" + id + ": x-reply-timeout=" + replyTimeout.toMillis()
                    + " must be below the " + services.kind() + " machine's bound on a guest write (" + services.writeBound().toMillis()
                    + " ms), or a vCPU would be released before the back-end is declared dead");
        }
        VhostUserDevice device;
        try {
            device = realize.apply(new VhostUserMetrics(services.meters(), id));
        } catch (RuntimeException e) {
            throw new UserError("-device " + driver + ",id=" + id + ": the back-end on chardev '" + chardev.id()
                    + "' (" + chardev.path() + ") could not be set up: " + e.getMessage()
                    + " -- is " + backendHint + " running on that socket?", e);
        }
        try {
            return new BuiltDevice.Pci(new VirtioPciDevice(device, services));
        } catch (RuntimeException e) {
            device.close();
            throw e;
        }
    }
}
