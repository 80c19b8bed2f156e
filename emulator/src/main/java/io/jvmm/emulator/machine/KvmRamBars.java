package io.jvmm.emulator.machine;

import io.jvmm.emulator.kvm.KvmVm;
import io.jvmm.pci.dispatch.IoRegion;
import io.jvmm.pci.dispatch.IoSpace;
import io.jvmm.pci.mem.MemoryRegion;
import java.util.HashMap;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * RAM BARs under KVM: whenever the guest maps one (programs its address and enables memory
 * decoding) it becomes a KVM memory slot over the BAR's shared memory, so guest accesses never
 * exit; when the BAR is unmapped or moved the slot goes. Watches the machine's MMIO space.
 */
final class KvmRamBars implements IoSpace.Listener, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(KvmRamBars.class);

    private final KvmVm vm;
    private final Map<IoRegion, MemoryRegion> slots = new HashMap<>();

    KvmRamBars(KvmVm vm) {
        this.vm = vm;
    }

    @Override
    public synchronized void regionAdded(IoRegion region) {
        if (region.ram() == null) {
            return;
        }
        MemoryRegion slot = new MemoryRegion(region.owner(), region.base(), region.ram());
        try {
            vm.mapRegion(slot);
            slots.put(region, slot);
            log.debug("{} mapped into the guest at 0x{} (memory slot)", region.owner(), Long.toHexString(region.base()));
        } catch (RuntimeException e) {
            // The BAR still works, trapped: every access then exits to its handler.
            log.warn("{}: could not map the RAM BAR into the guest at 0x{} ({}); its accesses will trap",
                    region.owner(), Long.toHexString(region.base()), e.getMessage());
        }
    }

    @Override
    public synchronized void regionRemoved(IoRegion region) {
        MemoryRegion slot = slots.remove(region);
        if (slot != null) {
            vm.unmapRegion(slot);
        }
    }

    @Override
    public synchronized void close() {
        slots.clear();   // the VM's slots go with the VM
    }
}
