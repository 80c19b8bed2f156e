package io.jvmm.pci;

import io.jvmm.pci.dispatch.IoCompletion;
import io.jvmm.pci.dispatch.IoHandler;
import io.jvmm.pci.dispatch.IoSpace;
import java.util.concurrent.CompletableFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * PCI configuration mechanism #1 (PCI Local Bus Specification 3.0, 3.2.2.3.2): ports
 * 0xCF8..0xCFF. CONFIG_ADDRESS at 0xCF8 is accessed as a dword only (bit 31 enable, bus 23:16,
 * device 15:11, function 10:8, register 7:2); CONFIG_DATA at 0xCFC..0xCFF takes any size at any
 * offset, which adds to the register number.
 *
 * <p>The address latch is shared by all vCPUs, as on real hardware; guests serialise their
 * accesses themselves (Linux holds pci_config_lock).
 */
final class ConfigMechanism1 implements IoHandler {

    static final long BASE = 0xCF8;
    static final long LENGTH = 8;
    static final int ENABLE = 1 << 31;
    /** Bits of CONFIG_ADDRESS that hold something: enable, bus, device, function, register. */
    static final int ADDRESS_BITS = ENABLE | 0x00FF_FFFC;

    private static final Logger log = LoggerFactory.getLogger(ConfigMechanism1.class);

    private final PciBus bus;
    private volatile int address;

    ConfigMechanism1(PciBus bus) {
        this.bus = bus;
    }

    @Override
    public long read(long offset, int size) {
        if (offset < 4) {
            if (offset == 0 && size == 4) {
                return address & 0xFFFFFFFFL;
            }
            log.debug("config address register: ignoring {}-byte read at 0x{}", size, Long.toHexString(BASE + offset));
            return IoSpace.allOnes(size);
        }
        int latched = address;
        if ((latched & ENABLE) == 0 || size > 4) {
            return IoSpace.allOnes(size);
        }
        return bus.configRead(busOf(latched), slotOf(latched), functionOf(latched),
                registerOf(latched) + (int) (offset - 4), size) & 0xFFFFFFFFL;
    }

    @Override
    public CompletableFuture<Void> write(long offset, int size, long value) {
        if (offset < 4) {
            if (offset == 0 && size == 4) {
                address = (int) value & ADDRESS_BITS;
            } else {
                log.debug("config address register: ignoring {}-byte write at 0x{}", size, Long.toHexString(BASE + offset));
            }
            return IoCompletion.DONE;
        }
        int latched = address;
        if ((latched & ENABLE) == 0 || size > 4) {
            return IoCompletion.DONE;
        }
        return bus.configWrite(busOf(latched), slotOf(latched), functionOf(latched),
                registerOf(latched) + (int) (offset - 4), size, (int) value);
    }

    private static int busOf(int address) {
        return (address >>> 16) & 0xFF;
    }

    private static int slotOf(int address) {
        return (address >>> 11) & 0x1F;
    }

    private static int functionOf(int address) {
        return (address >>> 8) & 0x7;
    }

    private static int registerOf(int address) {
        return address & 0xFC;
    }
}
