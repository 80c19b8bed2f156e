package io.jvmm.platform;

import io.jvmm.pci.PciDevice;
import io.jvmm.pci.dispatch.IoHandler;
import java.util.Objects;

/** What a device type builds: a PCI function, or a handler for a range of I/O ports (an ISA device). */
public sealed interface BuiltDevice permits BuiltDevice.Pci, BuiltDevice.Ports {
    String id();

    /** Releases the device's back-end resources when the machine goes (or when assembly fails). */
    void close();

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
