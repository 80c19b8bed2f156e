package io.jvmm.monitor;

import io.jvmm.pci.PciBus;
import io.jvmm.pci.PciDevice;
import java.util.List;
import java.util.Objects;

/**
 * A PCI function where a machine's guest finds it (QMP {@code query-pci}, HMP {@code info pci}).
 * The vfio-user server has no bus of its own: its devices are numbered in the order they are served.
 */
public record PciSlot(int bus, int slot, int function, PciDevice device) {
    public PciSlot {
        Objects.requireNonNull(device, "device");
    }

    /** The functions of {@code bus} (bus 0), in slot order. */
    public static List<PciSlot> onBus(PciBus bus) {
        return bus.devices().stream().map(d -> new PciSlot(0, d.slot(), 0, d)).toList();
    }
}
