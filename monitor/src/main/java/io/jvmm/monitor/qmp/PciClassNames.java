package io.jvmm.monitor.qmp;

import java.util.Map;
import java.util.Optional;

/**
 * Names of PCI device classes (base class and sub-class, from the PCI Code and ID Assignment
 * Specification), as {@code query-pci}'s {@code class_info.desc} and {@code info pci} show them.
 */
final class PciClassNames {
    private static final Map<Integer, String> NAMES = Map.ofEntries(
            Map.entry(0x0100, "SCSI controller"),
            Map.entry(0x0101, "IDE controller"),
            Map.entry(0x0102, "Floppy controller"),
            Map.entry(0x0104, "RAID controller"),
            Map.entry(0x0106, "SATA controller"),
            Map.entry(0x0107, "SAS controller"),
            Map.entry(0x0108, "NVMe controller"),
            Map.entry(0x0180, "Storage controller"),
            Map.entry(0x0200, "Ethernet controller"),
            Map.entry(0x0280, "Network controller"),
            Map.entry(0x0300, "VGA controller"),
            Map.entry(0x0380, "Display controller"),
            Map.entry(0x0400, "Video controller"),
            Map.entry(0x0401, "Audio controller"),
            Map.entry(0x0480, "Multimedia controller"),
            Map.entry(0x0500, "RAM controller"),
            Map.entry(0x0600, "Host bridge"),
            Map.entry(0x0601, "ISA bridge"),
            Map.entry(0x0604, "PCI bridge"),
            Map.entry(0x0680, "Bridge"),
            Map.entry(0x0700, "Serial port"),
            Map.entry(0x0780, "Communication controller"),
            Map.entry(0x0880, "System peripheral"),
            Map.entry(0x0c03, "USB controller"),
            Map.entry(0x0c05, "SMBus"),
            Map.entry(0x1000, "Encryption controller"));

    private PciClassNames() {
    }

    /** The name of class {@code classAndSubclass} (the upper 16 bits of the class code), if it has one. */
    static Optional<String> of(int classAndSubclass) {
        return Optional.ofNullable(NAMES.get(classAndSubclass));
    }
}
