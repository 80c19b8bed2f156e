package io.jvmm.virtio.pci;

/** virtio-pci vendor capability layout (virtio 1.x section 4.1.4). */
final class VirtioPciCapability {
    static final int PCI_CAP_ID_VNDR = 0x09;

    static final int COMMON_CFG = 1;
    static final int NOTIFY_CFG = 2;
    static final int ISR_CFG = 3;
    static final int DEVICE_CFG = 4;
    static final int PCI_CFG = 5;

    // Offsets inside struct virtio_pci_cap (after the 2 generic bytes id/next).
    static final int CAP_LEN = 2;
    static final int CFG_TYPE = 3;
    static final int BAR = 4;
    static final int ID = 5;
    static final int OFFSET = 8;
    static final int LENGTH = 12;
    static final int NOTIFY_OFF_MULTIPLIER = 16;   // virtio_pci_notify_cap
    static final int PCI_CFG_DATA = 16;            // virtio_pci_cfg_cap

    static final int SIZE = 16;
    static final int NOTIFY_SIZE = 20;
    static final int PCI_CFG_SIZE = 20;

    private VirtioPciCapability() {
    }
}
