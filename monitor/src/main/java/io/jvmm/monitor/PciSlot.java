package io.jvmm.monitor;

import io.jvmm.pci.PciDevice;
import java.util.Objects;

/**
 * A PCI function where a machine's guest finds it (QMP {@code query-pci}, HMP {@code info pci}).
 * The vfio-user server has no bus of its own: its devices are numbered in the order they are served.
 */
public record PciSlot(int bus, int slot, int function, PciDevice device) {
    public PciSlot {
        Objects.requireNonNull(device, "device");
    }
}
