package io.jvmm.pci;

import io.jvmm.pci.dispatch.IoRegion;
import java.util.ArrayList;
import java.util.List;

/** A plain PCI function for tests: exposes BAR definition and records resets and BAR (un)mappings. */
public class TestDevice extends PciDevice {

    public static final int VENDOR = 0x1AF4;
    public static final int DEVICE = 0x10F0;
    public static final int CLASS = 0x028000;
    public static final int REVISION = 0x05;
    public static final int SUBSYSTEM_VENDOR = 0x1234;
    public static final int SUBSYSTEM = 0x5678;

    public final List<String> events = new ArrayList<>();
    public int resets;

    public TestDevice(String id) {
        this(id, DEVICE);
    }

    public TestDevice(String id, int deviceId) {
        super(id, VENDOR, deviceId, CLASS, REVISION, SUBSYSTEM_VENDOR, SUBSYSTEM);
    }

    public TestDevice withBar(int index, BarDefinition bar) {
        defineBar(index, bar);
        return this;
    }

    public TestDevice withInterruptPin(int pin) {
        setInterruptPin(pin);
        return this;
    }

    @Override
    protected void reset() {
        resets++;
        events.add("reset");
    }

    @Override
    protected void barMapped(int index, IoRegion region) {
        events.add("mapped " + index + " 0x" + Long.toHexString(region.base()));
    }

    @Override
    protected void barUnmapped(int index, IoRegion region) {
        events.add("unmapped " + index + " 0x" + Long.toHexString(region.base()));
    }
}
