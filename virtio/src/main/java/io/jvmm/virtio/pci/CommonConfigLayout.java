package io.jvmm.virtio.pci;

/** Offsets and widths of struct virtio_pci_common_cfg (virtio 1.x section 4.1.4.3). */
final class CommonConfigLayout {
    static final int DEVICE_FEATURE_SELECT = 0x00;   // le32 RW
    static final int DEVICE_FEATURE = 0x04;          // le32 RO
    static final int DRIVER_FEATURE_SELECT = 0x08;   // le32 RW
    static final int DRIVER_FEATURE = 0x0c;          // le32 RW
    static final int CONFIG_MSIX_VECTOR = 0x10;      // le16 RW
    static final int NUM_QUEUES = 0x12;              // le16 RO
    static final int DEVICE_STATUS = 0x14;           // u8 RW
    static final int CONFIG_GENERATION = 0x15;       // u8 RO
    static final int QUEUE_SELECT = 0x16;            // le16 RW
    static final int QUEUE_SIZE = 0x18;              // le16 RW
    static final int QUEUE_MSIX_VECTOR = 0x1a;       // le16 RW
    static final int QUEUE_ENABLE = 0x1c;            // le16 RW
    static final int QUEUE_NOTIFY_OFF = 0x1e;        // le16 RO
    static final int QUEUE_DESC = 0x20;              // le64 RW
    static final int QUEUE_DRIVER = 0x28;            // le64 RW
    static final int QUEUE_DEVICE = 0x30;            // le64 RW
    static final int LENGTH = 0x38;

    /** Width in bytes of the field starting at {@code offset}, or 0 if no field starts there. */
    static int widthAt(int offset) {
        switch (offset) {
            case DEVICE_FEATURE_SELECT: case DEVICE_FEATURE: case DRIVER_FEATURE_SELECT: case DRIVER_FEATURE:
                return 4;
            case CONFIG_MSIX_VECTOR: case NUM_QUEUES: case QUEUE_SELECT: case QUEUE_SIZE:
            case QUEUE_MSIX_VECTOR: case QUEUE_ENABLE: case QUEUE_NOTIFY_OFF:
                return 2;
            case DEVICE_STATUS: case CONFIG_GENERATION:
                return 1;
            case QUEUE_DESC: case QUEUE_DRIVER: case QUEUE_DEVICE:
                return 8;
            default:
                return 0;
        }
    }

    private CommonConfigLayout() {
    }
}
