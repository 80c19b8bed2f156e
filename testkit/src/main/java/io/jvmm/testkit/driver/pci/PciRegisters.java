package io.jvmm.testkit.driver.pci;

/**
 * Type-0 configuration header offsets and bits (PCI Local Bus Specification 3.0, 6.1), written
 * out again on the guest side on purpose: a wrong constant in the device model must not cancel
 * out against the same wrong constant in the driver.
 */
public final class PciRegisters {
    public static final int VENDOR_ID = 0x00;
    public static final int DEVICE_ID = 0x02;
    public static final int COMMAND = 0x04;
    public static final int STATUS = 0x06;
    public static final int REVISION = 0x08;
    public static final int HEADER_TYPE = 0x0E;
    public static final int BAR0 = 0x10;
    public static final int SUBSYSTEM_VENDOR_ID = 0x2C;
    public static final int SUBSYSTEM_ID = 0x2E;
    public static final int CAPABILITIES_POINTER = 0x34;
    public static final int INTERRUPT_PIN = 0x3D;

    public static final int COMMAND_IO = 1;
    public static final int COMMAND_MEMORY = 1 << 1;
    public static final int COMMAND_BUS_MASTER = 1 << 2;
    public static final int STATUS_CAPABILITIES = 1 << 4;
    public static final int HEADER_MULTI_FUNCTION = 0x80;

    public static final int CAP_ID_VENDOR = 0x09;
    public static final int CAP_ID_MSIX = 0x11;

    /** A vendor id of all ones: nothing answered (master abort). */
    public static final int NO_DEVICE = 0xFFFF;

    private PciRegisters() {
    }
}
