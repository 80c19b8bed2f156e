package io.jvmm.pci;

import io.jvmm.pci.dispatch.IoCompletion;
import io.jvmm.pci.dispatch.IoRegion;
import io.jvmm.pci.dispatch.IoSpace;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicReferenceArray;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * PCI bus 0: 32 slots, function 0 only, with a {@link PciHostBridge} at slot 0. Devices
 * attached here map their BARs in the bus's MMIO and port I/O spaces. Config accesses to an
 * absent device read all ones (a master abort), which is how guests find empty slots.
 */
public final class PciBus {

    public static final int SLOTS = 32;

    private static final Logger log = LoggerFactory.getLogger(PciBus.class);

    private final IoSpace mmio;
    private final IoSpace pio;
    private final PciHostBridge hostBridge = new PciHostBridge();
    /** Read lock-free by vCPUs doing config accesses; changed under {@code this}. */
    private final AtomicReferenceArray<PciDevice> slots = new AtomicReferenceArray<>(SLOTS);
    private IoRegion mechanism1;

    public PciBus(IoSpace mmio, IoSpace pio) {
        this.mmio = Objects.requireNonNull(mmio, "mmio");
        this.pio = Objects.requireNonNull(pio, "pio");
        hostBridge.attached(0, mmio, pio);
        slots.set(0, hostBridge);
    }

    public IoSpace mmio() {
        return mmio;
    }

    public IoSpace pio() {
        return pio;
    }

    public PciHostBridge hostBridge() {
        return hostBridge;
    }

    /**
     * Attaches {@code device} as function 0 of {@code slot} (1..31).
     *
     * @throws IllegalArgumentException if the slot is taken (naming both devices) or out of range,
     *     or another device on the bus has the same id
     */
    public synchronized void attach(PciDevice device, int slot) {
        Objects.requireNonNull(device, "device");
        if (slot < 1 || slot >= SLOTS) {
            throw new IllegalArgumentException(device.id() + ": PCI slot must be 1..31 (0 is the host bridge), got " + slot);
        }
        PciDevice occupant = slots.get(slot);
        if (occupant != null) {
            throw new IllegalArgumentException(String.format("%s: PCI slot %d is already taken by %s", device.id(), slot, occupant.id()));
        }
        for (PciDevice other : devices()) {
            if (other.id().equals(device.id())) {
                throw new IllegalArgumentException(String.format("%s: a device with this id is already at slot %d", device.id(), other.slot()));
            }
        }
        device.attached(slot, mmio, pio);
        slots.set(slot, device);
        log.info("{}: attached at 00:{}.0", device.id(), String.format("%02x", slot));
    }

    /**
     * Removes {@code device} from its slot (hot-unplug): its BARs are unmapped and its I/O events
     * unbound, so neither the guest nor the machine reaches it any more; the caller closes it.
     *
     * @throws IllegalArgumentException if it is not attached to this bus
     */
    public synchronized void detach(PciDevice device) {
        Objects.requireNonNull(device, "device");
        int slot = device.slot();
        if (slot < 1 || slot >= SLOTS || slots.get(slot) != device) {
            throw new IllegalArgumentException(device.id() + " is not attached to this bus");
        }
        slots.set(slot, null);
        device.detached();
        log.info("{}: detached from 00:{}.0", device.id(), String.format("%02x", slot));
    }

    /** The lowest free slot. @throws IllegalStateException if the bus is full */
    public synchronized int nextFreeSlot() {
        for (int slot = 1; slot < SLOTS; slot++) {
            if (slots.get(slot) == null) {
                return slot;
            }
        }
        throw new IllegalStateException("PCI bus 0 is full: all 31 slots are taken");
    }

    public Optional<PciDevice> device(int slot) {
        if (slot < 0 || slot >= SLOTS) {
            throw new IllegalArgumentException("PCI slot must be 0..31, got " + slot);
        }
        return Optional.ofNullable(slots.get(slot));
    }

    /** Attached devices in slot order, the host bridge first. */
    public List<PciDevice> devices() {
        List<PciDevice> list = new ArrayList<>();
        for (int slot = 0; slot < SLOTS; slot++) {
            PciDevice device = slots.get(slot);
            if (device != null) {
                list.add(device);
            }
        }
        return list;
    }

    /** A config read; an absent bus, slot or function reads all ones. */
    public int configRead(int bus, int slot, int function, int offset, int size) {
        PciDevice device = target(bus, slot, function, offset, size);
        return device == null ? (int) IoSpace.allOnes(size) : device.configRead(offset, size);
    }

    /** A config write; one to an absent bus, slot or function is dropped. */
    public CompletableFuture<Void> configWrite(int bus, int slot, int function, int offset, int size, int value) {
        PciDevice device = target(bus, slot, function, offset, size);
        return device == null ? IoCompletion.DONE : device.configWrite(offset, size, value);
    }

    /** Registers configuration mechanism #1 at ports 0xCF8..0xCFF. */
    public synchronized void installConfigMechanism1() {
        if (mechanism1 != null) {
            throw new IllegalStateException("PCI configuration mechanism #1 is already installed");
        }
        mechanism1 = pio.register("pci config mechanism #1", ConfigMechanism1.BASE, ConfigMechanism1.LENGTH,
                new ConfigMechanism1(this));
    }

    /** Resets every device on the bus (system reset). */
    public void reset() {
        for (PciDevice device : devices()) {
            device.resetFunction();
        }
    }

    private PciDevice target(int bus, int slot, int function, int offset, int size) {
        if (bus < 0 || bus > 0xFF || slot < 0 || slot >= SLOTS || function < 0 || function > 7) {
            throw new IllegalArgumentException(String.format("bad PCI address %d:%d.%d", bus, slot, function));
        }
        if ((size != 1 && size != 2 && size != 4) || offset < 0 || offset + size > ConfigSpace.SIZE) {
            throw new IllegalArgumentException(String.format("bad config access of size %d at offset 0x%x of %02x:%02x.%d",
                    size, offset, bus, slot, function));
        }
        if (bus != 0 || function != 0) {
            return null;
        }
        return slots.get(slot);
    }
}
