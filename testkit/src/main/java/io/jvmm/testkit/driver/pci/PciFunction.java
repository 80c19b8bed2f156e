package io.jvmm.testkit.driver.pci;

import io.jvmm.testkit.driver.GuestDriverException;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

import static io.jvmm.testkit.driver.pci.PciRegisters.*;

/**
 * One PCI function found by enumeration: its identity, its config space (through mechanism #1),
 * its capability list and its BARs. BAR sizing and assignment go through {@link BarAllocator}.
 */
public final class PciFunction {
    /** A capability list longer than this must contain a loop (256 bytes / 4-byte minimum entries, minus the header). */
    private static final int MAX_CAPABILITIES = 48;

    private final PciConfigAccess config;
    private final PciAddress address;
    private final int vendorId;
    private final int deviceId;
    private final int classCode;
    private final int headerType;
    private volatile List<Bar> bars = List.of();

    PciFunction(PciConfigAccess config, PciAddress address) {
        this.config = Objects.requireNonNull(config, "config");
        this.address = address;
        this.vendorId = config.read16(address, VENDOR_ID);
        this.deviceId = config.read16(address, DEVICE_ID);
        this.classCode = config.read32(address, REVISION) >>> 8;
        this.headerType = config.read8(address, HEADER_TYPE);
    }

    public PciAddress address() {
        return address;
    }

    public int vendorId() {
        return vendorId;
    }

    public int deviceId() {
        return deviceId;
    }

    /** The 24-bit class code (class, subclass, programming interface). */
    public int classCode() {
        return classCode;
    }

    /** The header type without the multi-function bit. */
    public int headerLayout() {
        return headerType & 0x7F;
    }

    public boolean multiFunction() {
        return (headerType & HEADER_MULTI_FUNCTION) != 0;
    }

    public int read8(int offset) {
        return config.read8(address, offset);
    }

    public int read16(int offset) {
        return config.read16(address, offset);
    }

    public int read32(int offset) {
        return config.read32(address, offset);
    }

    public void write8(int offset, int value) {
        config.write8(address, offset, value);
    }

    public void write16(int offset, int value) {
        config.write16(address, offset, value);
    }

    public void write32(int offset, int value) {
        config.write32(address, offset, value);
    }

    public int command() {
        return read16(COMMAND);
    }

    /**
     * Walks the capability list from the capabilities pointer.
     *
     * @throws GuestDriverException if a pointer leaves 0x40..0xFF or the list loops
     */
    public List<PciCapabilityRef> capabilities() {
        if ((read16(STATUS) & STATUS_CAPABILITIES) == 0) {
            return List.of();
        }
        List<PciCapabilityRef> list = new ArrayList<>();
        int next = read8(CAPABILITIES_POINTER) & 0xFC;
        while (next != 0) {
            if (next < 0x40) {
                throw new GuestDriverException(String.format("%s: capability pointer 0x%x points into the standard header", this, next));
            }
            if (list.size() == MAX_CAPABILITIES) {
                throw new GuestDriverException(this + ": capability list does not end (loop?) after " + list);
            }
            list.add(new PciCapabilityRef(read8(next), next));
            next = read8(next + 1) & 0xFC;
        }
        return Collections.unmodifiableList(list);
    }

    /** The first capability with this id. */
    public Optional<PciCapabilityRef> findCapability(int id) {
        return capabilities().stream().filter(c -> c.id() == id).findFirst();
    }

    /** The BARs as last sized or assigned by a {@link BarAllocator} (empty before). */
    public List<Bar> bars() {
        return bars;
    }

    /** BAR {@code index}; it must have been sized and assigned. */
    public Bar bar(int index) {
        return bars.stream().filter(b -> b.index() == index).findFirst().orElseThrow(() ->
                new GuestDriverException(this + ": BAR" + index + " is not implemented or not assigned"));
    }

    void setBars(List<Bar> bars) {
        this.bars = List.copyOf(bars);
    }

    @Override
    public String toString() {
        return String.format("%s [%04x:%04x]", address, vendorId, deviceId);
    }
}
