package io.jvmm.platform.assembly;

import io.jvmm.platform.BuiltDevice;
import io.jvmm.platform.Machine;
import io.jvmm.platform.config.DeviceConfig;
import io.jvmm.platform.options.UserError;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one way devices are assembled, whatever the machine: each configured device is built with
 * the services the machine gives it, then plugged in. A device that cannot be built (a missing
 * file, an absent back-end, a handshake that fails) or plugged stops the assembly; it is closed
 * here, and the devices plugged before it belong to the machine, which the caller closes: nothing
 * is left half-created.
 */
public final class MachineAssembly {
    private static final Logger log = LoggerFactory.getLogger(MachineAssembly.class);

    private MachineAssembly() {
    }

    /**
     * Builds and plugs {@code devices} into {@code machine}, in order.
     *
     * @return the devices built, in order
     * @throws UserError naming the device at fault and why (close the machine then)
     */
    public static List<BuiltDevice> assemble(List<DeviceConfig<?>> devices, Machine machine) {
        List<BuiltDevice> built = new ArrayList<>();
        for (DeviceConfig<?> config : devices) {
            built.add(plug(config, machine));
        }
        return built;
    }

    /** Builds one device and plugs it in (hot-plug uses this too). */
    public static BuiltDevice plug(DeviceConfig<?> config, Machine machine) {
        BuiltDevice device;
        try {
            device = config.build(machine.servicesFor(config.id()));
        } catch (UserError e) {
            throw e;
        } catch (RuntimeException e) {
            throw new UserError("-device " + config.driver() + ",id=" + config.id() + " could not be created in the "
                    + machine.kind() + " machine: " + e.getMessage(), e);
        }
        try {
            machine.plug(device);
        } catch (RuntimeException e) {
            closeQuietly(device);
            throw e;
        }
        log.debug("{} machine: {} plugged in", machine.kind(), config);
        return device;
    }

    private static void closeQuietly(BuiltDevice device) {
        try {
            device.close();
        } catch (RuntimeException e) {
            log.warn("closing {} after a failed assembly: {}", device.id(), e.toString());
        }
    }
}
