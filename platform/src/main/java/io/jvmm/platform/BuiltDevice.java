package io.jvmm.platform;

import io.jvmm.pci.IoEventBinder;
import io.jvmm.pci.PciBus;
import io.jvmm.pci.PciDevice;
import io.jvmm.pci.dispatch.IoHandler;
import io.jvmm.pci.dispatch.IoSpace;
import java.util.Objects;

/** What a device type builds: a PCI function, or a handler for a range of I/O ports (an ISA device). */
public sealed interface BuiltDevice permits BuiltDevice.Pci, BuiltDevice.Ports {
    String id();

    /** Releases the device's back-end resources when the machine goes (or when assembly fails). */
    void close();

    /**
     * Plugs the device into a machine with a PCI bus: a PCI function into the next free slot, with
     * its I/O events bound by {@code binder}; a port range into {@code pio}.
     */
    default void plugInto(PciBus bus, IoSpace pio, IoEventBinder binder) {
        if (this instanceof Pci pci) {
            bus.attach(pci.device(), bus.nextFreeSlot());
            pci.device().bindIoEvents(binder);
        } else if (this instanceof Ports ports) {
            pio.register(ports.id(), ports.base(), ports.length(), ports.handler());
        }
    }

    /** A PCI function; the machine plugs it into its bus (or serves it). */
    record Pci(PciDevice device) implements BuiltDevice {
        public Pci {
            Objects.requireNonNull(device, "device");
        }

        @Override
        public String id() {
            return device.id();
        }

        @Override
        public void close() {
            device.close();
        }
    }

    /** A handler for the port I/O range {@code [base, base + length)}. */
    record Ports(String id, int base, int length, IoHandler handler) implements BuiltDevice {
        public Ports {
            Objects.requireNonNull(id, "id");
            Objects.requireNonNull(handler, "handler");
        }

        @Override
        public void close() {
        }
    }
}
