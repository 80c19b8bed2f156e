package io.jvmm.monitor;

import io.jvmm.pci.PciDevice;
import io.jvmm.platform.BuiltDevice;
import io.jvmm.platform.config.DeviceConfig;
import java.util.Objects;
import java.util.Optional;

/**
 * A device of a running machine as a monitor sees it: how it was asked for (its type and property
 * values) and what was built.
 *
 * @param hotplugged whether it was added while the machine ran ({@code device_add})
 */
public record MonitoredDevice(DeviceConfig<?> config, BuiltDevice device, boolean hotplugged) {
    /** Where QEMU puts a device with an id in the QOM tree. */
    public static final String PERIPHERAL = "/machine/peripheral";

    public MonitoredDevice {
        Objects.requireNonNull(config, "config");
        Objects.requireNonNull(device, "device");
        if (!config.id().equals(device.id())) {
            throw new IllegalArgumentException("device " + device.id() + " was built from the configuration of " + config.id());
        }
    }

    public String id() {
        return config.id();
    }

    public String driver() {
        return config.driver();
    }

    /** Its QOM path: {@code /machine/peripheral/ID}. */
    public String path() {
        return PERIPHERAL + "/" + id();
    }

    /** The PCI function, for a PCI device. */
    public Optional<PciDevice> pci() {
        return device instanceof BuiltDevice.Pci p ? Optional.of(p.device()) : Optional.empty();
    }
}
