package io.jvmm.emulator.kvm;

import java.nio.ByteBuffer;
import java.util.BitSet;
import java.util.Map;
import java.util.TreeMap;

/**
 * The VM's interrupt routing table, kept in Java because KVM_SET_GSI_ROUTING replaces the whole
 * table on every call. It always holds KVM's default legacy routes (what KVM_CREATE_IRQCHIP
 * installs: GSIs 0-15 to the PICs and the IOAPIC, 16-23 to the IOAPIC), so adding an MSI route
 * never unplugs the serial port's IRQ 4, plus one MSI route per allocated GSI that has one.
 *
 * <p>Not thread-safe: {@link KvmVm} guards it.
 */
final class GsiRouting {
    /** IOAPIC input pins; MSI GSIs are allocated above them. */
    static final int IOAPIC_PINS = 24;
    /** KVM_MAX_IRQ_ROUTES: both the largest table and the bound on GSI numbers. */
    static final int MAX_ROUTES = 4096;

    static final int PIC_PINS = 16;
    static final int LEGACY_ENTRIES = PIC_PINS * 2 + (IOAPIC_PINS - PIC_PINS);
    static final int ENTRY_SIZE = 48;
    static final int HEADER_SIZE = 8;

    static final int TYPE_IRQCHIP = 1;
    static final int TYPE_MSI = 2;
    static final int IRQCHIP_PIC_MASTER = 0;
    static final int IRQCHIP_PIC_SLAVE = 1;
    static final int IRQCHIP_IOAPIC = 2;

    /** An MSI message: the address (split into lo/hi for KVM) and the data word. */
    record MsiRoute(long address, int data) {
    }

    private final BitSet allocated = new BitSet(MAX_ROUTES);
    private final TreeMap<Integer, MsiRoute> msiRoutes = new TreeMap<>();

    /** The lowest free GSI above the IOAPIC pins. */
    int allocate() {
        int gsi = allocated.nextClearBit(IOAPIC_PINS);
        if (gsi >= MAX_ROUTES || LEGACY_ENTRIES + allocated.cardinality() >= MAX_ROUTES) {
            throw new IllegalStateException("no free GSI: all " + (MAX_ROUTES - IOAPIC_PINS)
                    + " MSI GSIs (" + IOAPIC_PINS + ".." + (MAX_ROUTES - 1) + ") are allocated");
        }
        allocated.set(gsi);
        return gsi;
    }

    /** Frees an allocated GSI, dropping its route. Returns whether it had a route. */
    boolean release(int gsi) {
        requireAllocated(gsi);
        allocated.clear(gsi);
        return msiRoutes.remove(gsi) != null;
    }

    boolean isAllocated(int gsi) {
        return gsi >= IOAPIC_PINS && gsi < MAX_ROUTES && allocated.get(gsi);
    }

    /** Sets (or replaces) the MSI route of an allocated GSI; returns the previous one or null. */
    MsiRoute setMsi(int gsi, long address, int data) {
        requireAllocated(gsi);
        return msiRoutes.put(gsi, new MsiRoute(address, data));
    }

    /** Drops the MSI route of an allocated GSI (the GSI stays allocated); returns it or null. */
    MsiRoute removeMsi(int gsi) {
        requireAllocated(gsi);
        return msiRoutes.remove(gsi);
    }

    /** Puts a route back exactly as it was (null: none), to undo a change KVM refused. */
    void restore(int gsi, MsiRoute previous) {
        if (previous == null) {
            msiRoutes.remove(gsi);
        } else {
            msiRoutes.put(gsi, previous);
        }
    }

    MsiRoute msiRoute(int gsi) {
        return msiRoutes.get(gsi);
    }

    int entryCount() {
        return LEGACY_ENTRIES + msiRoutes.size();
    }

    /** {@code struct kvm_irq_routing} with every entry, ready for KVM_SET_GSI_ROUTING. */
    NativeStruct encode() {
        NativeStruct s = new NativeStruct(HEADER_SIZE + entryCount() * ENTRY_SIZE);
        ByteBuffer b = s.buffer();
        b.putInt(0, entryCount());
        int at = HEADER_SIZE;
        for (int gsi = 0; gsi < IOAPIC_PINS; gsi++) {
            if (gsi < PIC_PINS) {
                putIrqchip(b, at, gsi, gsi < 8 ? IRQCHIP_PIC_MASTER : IRQCHIP_PIC_SLAVE, gsi % 8);
                at += ENTRY_SIZE;
            }
            putIrqchip(b, at, gsi, IRQCHIP_IOAPIC, gsi);
            at += ENTRY_SIZE;
        }
        for (Map.Entry<Integer, MsiRoute> e : msiRoutes.entrySet()) {
            b.putInt(at, e.getKey());
            b.putInt(at + 4, TYPE_MSI);
            b.putInt(at + 16, (int) e.getValue().address());
            b.putInt(at + 20, (int) (e.getValue().address() >>> 32));
            b.putInt(at + 24, e.getValue().data());
            at += ENTRY_SIZE;
        }
        return s;
    }

    private static void putIrqchip(ByteBuffer b, int at, int gsi, int chip, int pin) {
        b.putInt(at, gsi);
        b.putInt(at + 4, TYPE_IRQCHIP);
        b.putInt(at + 16, chip);
        b.putInt(at + 20, pin);
    }

    private void requireAllocated(int gsi) {
        if (!isAllocated(gsi)) {
            throw new IllegalArgumentException("GSI " + gsi + " is not an allocated MSI GSI (allocate one with"
                    + " allocateGsi(); GSIs 0-" + (IOAPIC_PINS - 1) + " are the IOAPIC pins)");
        }
    }
}
