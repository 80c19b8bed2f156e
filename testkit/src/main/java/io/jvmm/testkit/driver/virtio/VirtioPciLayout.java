package io.jvmm.testkit.driver.virtio;

import io.jvmm.testkit.driver.GuestDriverException;
import io.jvmm.testkit.driver.pci.Bar;
import io.jvmm.testkit.driver.pci.BarKind;
import io.jvmm.testkit.driver.pci.PciCapabilityRef;
import io.jvmm.testkit.driver.pci.PciFunction;
import io.jvmm.testkit.driver.pci.PciRegisters;

/**
 * Where a modern virtio-pci device put its structures (virtio 1.x, 4.1.4): parsed from the
 * vendor-specific capabilities (cfg_type, bar, offset, length; the notify capability adds
 * notify_off_multiplier). As the specification asks, the first capability of each type wins and
 * unknown types are skipped. The device's BARs must be assigned.
 */
public final class VirtioPciLayout {
    static final int COMMON_CFG = 1;
    static final int NOTIFY_CFG = 2;
    static final int ISR_CFG = 3;
    static final int DEVICE_CFG = 4;
    static final int PCI_CFG = 5;

    private static final int CFG_TYPE = 3;
    private static final int BAR = 4;
    private static final int OFFSET = 8;
    private static final int LENGTH = 12;
    private static final int NOTIFY_MULTIPLIER = 16;

    /** One structure: guest-physical address and length. */
    public record Region(long address, long length) {
    }

    private final Region common;
    private final Region notify;
    private final int notifyMultiplier;
    private final Region isr;
    private final Region device;   // null when the device has no configuration space
    private final int pciCfgCapability;

    /**
     * @throws GuestDriverException naming the function if a required structure (common, notify,
     *     ISR) is missing or lies outside its BAR
     */
    public VirtioPciLayout(PciFunction fn) {
        Region commonFound = null;
        Region notifyFound = null;
        Region isrFound = null;
        Region deviceFound = null;
        int multiplier = 0;
        int pciCfg = -1;
        for (PciCapabilityRef cap : fn.capabilities()) {
            if (cap.id() != PciRegisters.CAP_ID_VENDOR) {
                continue;
            }
            int type = fn.read8(cap.offset() + CFG_TYPE);
            if (type == PCI_CFG) {
                pciCfg = pciCfg < 0 ? cap.offset() : pciCfg;
                continue;
            }
            if (type < COMMON_CFG || type > DEVICE_CFG) {
                continue;
            }
            int barIndex = fn.read8(cap.offset() + BAR);
            if (barIndex > 5) {
                continue;   // reserved BAR values: the spec says to ignore such a capability
            }
            long offset = fn.read32(cap.offset() + OFFSET) & 0xFFFF_FFFFL;
            long length = fn.read32(cap.offset() + LENGTH) & 0xFFFF_FFFFL;
            Bar bar = fn.bar(barIndex);
            if (bar.kind() == BarKind.IO || offset + length > bar.size()) {
                throw new GuestDriverException(String.format("%s: virtio structure type %d at BAR%d+0x%x length 0x%x does not fit %s",
                        fn, type, barIndex, offset, length, bar));
            }
            Region region = new Region(bar.address() + offset, length);
            switch (type) {
                case COMMON_CFG -> commonFound = commonFound == null ? region : commonFound;
                case NOTIFY_CFG -> {
                    if (notifyFound == null) {
                        notifyFound = region;
                        multiplier = fn.read32(cap.offset() + NOTIFY_MULTIPLIER);
                    }
                }
                case ISR_CFG -> isrFound = isrFound == null ? region : isrFound;
                default -> deviceFound = deviceFound == null ? region : deviceFound;
            }
        }
        if (commonFound == null || notifyFound == null || isrFound == null) {
            throw new GuestDriverException(fn + ": missing virtio capability: common " + (commonFound != null)
                    + ", notify " + (notifyFound != null) + ", ISR " + (isrFound != null));
        }
        if (commonFound.length() < VirtioCommonConfig.LENGTH) {
            throw new GuestDriverException(fn + ": common configuration is only " + commonFound.length() + " bytes");
        }
        this.common = commonFound;
        this.notify = notifyFound;
        this.notifyMultiplier = multiplier;
        this.isr = isrFound;
        this.device = deviceFound;
        this.pciCfgCapability = pciCfg;
    }

    public Region common() {
        return common;
    }

    public Region notifyRegion() {
        return notify;
    }

    public int notifyMultiplier() {
        return notifyMultiplier;
    }

    public Region isr() {
        return isr;
    }

    /** The device-specific configuration, or null if the device has none. */
    public Region device() {
        return device;
    }

    /** Config-space offset of the PCI_CFG access capability, or -1. */
    public int pciCfgCapability() {
        return pciCfgCapability;
    }

    /** Where queue {@code notifyOff}'s notifications go: notify base + queue_notify_off * multiplier. */
    public long notifyAddress(int queueNotifyOff, String owner) {
        long offset = (long) queueNotifyOff * notifyMultiplier;
        if (offset + 2 > notify.length()) {
            throw new GuestDriverException(String.format("%s: queue_notify_off %d * multiplier %d lies outside the notify region (%d bytes)",
                    owner, queueNotifyOff, notifyMultiplier, notify.length()));
        }
        return notify.address() + offset;
    }
}
