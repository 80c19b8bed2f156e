package io.jvmm.pci;

/**
 * The host bridge at 00:00.0. It decodes nothing itself; guests expect to find it while
 * enumerating. Identifies as an Intel 440FX (8086:1237 rev 2, class 06:00:00), as QEMU's pc
 * machine does, so guest drivers treat it as an ordinary PC host bridge.
 */
public final class PciHostBridge extends PciDevice {

    public static final String ID = "host-bridge";
    public static final int VENDOR_INTEL = 0x8086;
    public static final int DEVICE_I440FX = 0x1237;
    public static final int CLASS_HOST_BRIDGE = 0x060000;

    public PciHostBridge() {
        super(ID, VENDOR_INTEL, DEVICE_I440FX, CLASS_HOST_BRIDGE, 0x02, 0x1AF4, 0x1100);
    }
}
