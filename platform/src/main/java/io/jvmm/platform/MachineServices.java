package io.jvmm.platform;

import io.jvmm.chardev.EventContext;
import io.jvmm.pci.mem.GuestMemory;
import io.jvmm.pci.msix.GuestNotifiers;
import io.jvmm.pci.msix.Msix;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;

/**
 * What a machine gives the devices built in it. Each machine (KVM, no CPU, vfio-user server)
 * implements it once, so a device is built one way whatever it runs in: a device never asks which
 * machine it is in.
 *
 * <p>Two more services come through the device's own PCI function rather than this interface,
 * because they follow its BARs: {@link io.jvmm.pci.IoEvent registers whose writes are eventfds}
 * (KVM ioeventfds, trapped and matched elsewhere) and {@link io.jvmm.pci.BarDefinition#ram RAM
 * BARs} (a KVM memory slot, an mmap-able vfio-user region, a direct mapping without a CPU).
 */
public interface MachineServices {
    /** What kind of machine this is, for logs and errors: "kvm", "no-cpu", "vfio-user". */
    String kind();

    /** The guest memory devices transfer data to and from (DMA). */
    GuestMemory memory();

    /**
     * A new MSI-X capability for device {@code deviceId}, wired to the way this machine delivers
     * interrupts (KVM: a GSI route and irqfd per vector, detached while masked; vfio-user: the
     * client's eventfds; no CPU: a recorder). Signals that arrive on a masked vector's route are
     * watched on {@code context} and become its pending bit (rule 2).
     */
    Msix msix(String deviceId, int vectors, EventContext context);

    /**
     * For each MSI-X vector, the eventfd whose signal raises it: what an out-of-process back-end
     * (vhost-user) or any eventfd source is given (the irqfd itself under KVM).
     */
    GuestNotifiers guestNotifiers();

    /** Where devices register their meters (one registry per machine). */
    MeterRegistry meters();

    /** The bound on what a guest's write may wait for (rule 1): a vCPU is released after it, whatever happens. */
    Duration DEFAULT_WRITE_BOUND = Duration.ofSeconds(30);

    /**
     * How long a guest's register write may be held by the completion it returns (rule 1) before
     * the machine gives up on it. A device that waits on a peer keeps its own timeouts below this.
     */
    default Duration writeBound() {
        return DEFAULT_WRITE_BOUND;
    }

    /**
     * Ends the machine with {@code status} (isa-debug-exit, a reset line). A machine without a
     * guest of its own (a vfio-user server) logs the request and goes on.
     */
    void requestExit(int status, String reason);
}
