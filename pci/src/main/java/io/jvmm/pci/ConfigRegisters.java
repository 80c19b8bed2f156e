package io.jvmm.pci;

/** Offsets and bits of the type-0 PCI configuration header (PCI Local Bus Specification 3.0, 6.1). */
public final class ConfigRegisters {

    public static final int VENDOR_ID = 0x00;
    public static final int DEVICE_ID = 0x02;
    public static final int COMMAND = 0x04;
    public static final int STATUS = 0x06;
    public static final int REVISION_ID = 0x08;
    /** Programming interface; the 24-bit class code spans 0x09..0x0B. */
    public static final int CLASS_CODE = 0x09;
    public static final int CACHE_LINE_SIZE = 0x0C;
    public static final int LATENCY_TIMER = 0x0D;
    public static final int HEADER_TYPE = 0x0E;
    public static final int BAR0 = 0x10;
    public static final int BAR_COUNT = 6;
    public static final int SUBSYSTEM_VENDOR_ID = 0x2C;
    public static final int SUBSYSTEM_ID = 0x2E;
    public static final int EXPANSION_ROM = 0x30;
    public static final int CAPABILITIES_POINTER = 0x34;
    public static final int INTERRUPT_LINE = 0x3C;
    public static final int INTERRUPT_PIN = 0x3D;
    /** First byte after the standard header: capabilities go from here. */
    public static final int HEADER_END = 0x40;

    public static final int COMMAND_IO = 1;
    public static final int COMMAND_MEMORY = 1 << 1;
    public static final int COMMAND_BUS_MASTER = 1 << 2;
    public static final int COMMAND_INTX_DISABLE = 1 << 10;
    /** The command bits a guest may change. */
    public static final int COMMAND_WRITABLE = COMMAND_IO | COMMAND_MEMORY | COMMAND_BUS_MASTER | COMMAND_INTX_DISABLE;

    public static final int STATUS_INTERRUPT = 1 << 3;
    public static final int STATUS_CAPABILITIES_LIST = 1 << 4;
    public static final int STATUS_MASTER_DATA_PARITY_ERROR = 1 << 8;
    public static final int STATUS_SIGNALED_TARGET_ABORT = 1 << 11;
    public static final int STATUS_RECEIVED_TARGET_ABORT = 1 << 12;
    public static final int STATUS_RECEIVED_MASTER_ABORT = 1 << 13;
    public static final int STATUS_SIGNALED_SYSTEM_ERROR = 1 << 14;
    public static final int STATUS_DETECTED_PARITY_ERROR = 1 << 15;
    /** The error bits of the status register, cleared by writing 1. */
    public static final int STATUS_W1C = STATUS_MASTER_DATA_PARITY_ERROR | STATUS_SIGNALED_TARGET_ABORT
            | STATUS_RECEIVED_TARGET_ABORT | STATUS_RECEIVED_MASTER_ABORT | STATUS_SIGNALED_SYSTEM_ERROR
            | STATUS_DETECTED_PARITY_ERROR;

    public static final int BAR_IO_SPACE = 1;
    public static final int BAR_MEM_TYPE_64 = 0b100;
    public static final int BAR_MEM_PREFETCHABLE = 0b1000;

    public static final int CAP_ID_MSIX = 0x11;
    public static final int CAP_ID_VENDOR = 0x09;

    private ConfigRegisters() {
    }

    /** Offset of BAR register {@code index} (0..5). */
    public static int bar(int index) {
        return BAR0 + 4 * index;
    }
}
