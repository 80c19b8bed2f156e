package io.jvmm.monitor.qmp;

import io.jvmm.monitor.MonitoredDevice;
import io.jvmm.monitor.MonitoredMachine;
import io.jvmm.platform.registry.Registry;
import java.util.Objects;
import java.util.Optional;
import java.util.function.Supplier;

/**
 * What the command handlers work on: the machine, the registry device types are looked up in,
 * and how the monitor itself is reached (it is a character device to QEMU: {@code query-chardev}
 * lists it).
 *
 * @param monitorFilename the monitor's endpoint as QEMU describes a socket chardev ("unix:PATH,server=on"),
 *                        asked when needed (a TCP port is known once bound)
 */
public record QmpContext(MonitoredMachine machine, Registry registry, Supplier<String> monitorFilename) {
    /** QEMU's name for the bus devices are plugged into. */
    public static final String PCI_BUS = "pci.0";

    public QmpContext {
        Objects.requireNonNull(machine, "machine");
        Objects.requireNonNull(registry, "registry");
        Objects.requireNonNull(monitorFilename, "monitorFilename");
    }

    /** The device with id {@code id}, if the machine has one. */
    Optional<MonitoredDevice> device(String id) {
        return machine.monitoredDevices().stream().filter(d -> d.id().equals(id)).findFirst();
    }
}
