package io.jvmm.virtio.pci;

import io.jvmm.pci.ConfigSpace;

import static io.jvmm.virtio.pci.VirtioPciCapability.*;

/** Writes the virtio vendor capabilities (struct virtio_pci_cap and its variants) into config space. */
final class VirtioPciCapabilities {
    private final ConfigSpace config;

    VirtioPciCapabilities(ConfigSpace config) {
        this.config = config;
    }

    /** A capability locating one structure: type, BAR, offset and length inside the BAR. */
    int add(int type, int bar, long offset, long length) {
        return add(type, bar, offset, length, SIZE);
    }

    int addNotify(int bar, long offset, long length, int multiplier) {
        int cap = add(NOTIFY_CFG, bar, offset, length, NOTIFY_SIZE);
        config.set32(cap + NOTIFY_OFF_MULTIPLIER, multiplier);
        return cap;
    }

    /**
     * The PCI_CFG access window: the driver writes bar/offset/length, then reads or writes
     * pci_cfg_data to access that BAR through config space.
     */
    int addPciCfgWindow() {
        int cap = add(PCI_CFG, 0, 0, 0, PCI_CFG_SIZE);
        config.setWritable(cap + BAR, 1);
        config.setWritable(cap + OFFSET, 4);
        config.setWritable(cap + LENGTH, 4);
        config.setWritable(cap + PCI_CFG_DATA, 4);
        return cap;
    }

    private int add(int type, int bar, long offset, long length, int size) {
        int cap = config.addCapability(PCI_CAP_ID_VNDR, size);
        config.set8(cap + CAP_LEN, size);
        config.set8(cap + CFG_TYPE, type);
        config.set8(cap + BAR, bar);
        config.set8(cap + ID, 0);
        config.set32(cap + OFFSET, (int) offset);
        config.set32(cap + LENGTH, (int) length);
        return cap;
    }
}
