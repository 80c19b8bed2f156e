package io.jvmm.testkit.driver.pci;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

import static io.jvmm.testkit.driver.pci.PciRegisters.*;

/**
 * Enumerates bus 0 the way firmware does: for each slot, function 0; an all-ones vendor id
 * means nothing is there; if function 0's header type has the multi-function bit, functions 1..7
 * are probed too.
 */
public final class PciEnumerator {
    private static final Logger log = LoggerFactory.getLogger(PciEnumerator.class);

    private final PciConfigAccess config;

    public PciEnumerator(PciConfigAccess config) {
        this.config = Objects.requireNonNull(config, "config");
    }

    /** Every function present on {@code bus}, in slot and function order. */
    public List<PciFunction> scan(int bus) {
        List<PciFunction> found = new ArrayList<>();
        for (int slot = 0; slot < 32; slot++) {
            PciAddress f0 = new PciAddress(bus, slot, 0);
            if (config.read16(f0, VENDOR_ID) == NO_DEVICE) {
                continue;
            }
            PciFunction function0 = new PciFunction(config, f0);
            found.add(function0);
            if (function0.multiFunction()) {
                for (int fn = 1; fn < 8; fn++) {
                    PciAddress a = new PciAddress(bus, slot, fn);
                    if (config.read16(a, VENDOR_ID) != NO_DEVICE) {
                        found.add(new PciFunction(config, a));
                    }
                }
            }
        }
        log.debug("bus {}: found {}", bus, found);
        return found;
    }
}
