package io.jvmm.testkit.driver.pci;

import io.jvmm.pci.msix.MsiMessage;
import io.jvmm.testkit.driver.GuestCpu;
import io.jvmm.testkit.driver.GuestDriverException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.List;
import java.util.Objects;

/**
 * The guest side of MSI-X (PCI Local Bus Specification 3.0, 6.8.2): finds the capability, locates
 * the vector table and the pending-bit array through their BAR indicator and offset, programs
 * vectors, enables, and masks per vector or per function. The table is accessed with aligned
 * dword MMIO, the only size every implementation must accept.
 */
public final class MsixDriver {
    private static final Logger log = LoggerFactory.getLogger(MsixDriver.class);

    static final int CONTROL = 2;
    static final int TABLE = 4;
    static final int PBA = 8;
    static final int CONTROL_ENABLE = 1 << 15;
    static final int CONTROL_FUNCTION_MASK = 1 << 14;
    static final int ENTRY_SIZE = 16;
    static final int ENTRY_ADDRESS_LO = 0;
    static final int ENTRY_ADDRESS_HI = 4;
    static final int ENTRY_DATA = 8;
    static final int ENTRY_CONTROL = 12;
    static final int ENTRY_MASKED = 1;

    private final GuestCpu cpu;
    private final PciFunction fn;
    private final int capability;
    private final int vectors;
    private final long table;
    private final long pba;

    /**
     * @throws GuestDriverException if the function has no MSI-X capability or its table/PBA BAR is
     *     not assigned
     */
    public MsixDriver(GuestCpu cpu, PciFunction fn) {
        this.cpu = Objects.requireNonNull(cpu, "cpu");
        this.fn = Objects.requireNonNull(fn, "fn");
        this.capability = fn.findCapability(PciRegisters.CAP_ID_MSIX)
                .orElseThrow(() -> new GuestDriverException(fn + ": no MSI-X capability")).offset();
        this.vectors = (fn.read16(capability + CONTROL) & 0x7FF) + 1;
        int tableReg = fn.read32(capability + TABLE);
        int pbaReg = fn.read32(capability + PBA);
        this.table = locate(tableReg, "table");
        this.pba = locate(pbaReg, "PBA");
        log.debug("{}: MSI-X cap @0x{}, {} vectors, table 0x{}, PBA 0x{}", fn, Integer.toHexString(capability), vectors,
                Long.toHexString(table), Long.toHexString(pba));
    }

    private long locate(int register, String what) {
        int bir = register & 7;
        long offset = register & 0xFFFF_FFF8L;
        if (bir > 5) {
            throw new GuestDriverException(fn + ": MSI-X " + what + " BIR " + bir + " is reserved");
        }
        Bar bar = fn.bar(bir);
        if (bar.kind() == BarKind.IO || !bar.assigned()) {
            throw new GuestDriverException(fn + ": MSI-X " + what + " is in " + bar + ", not an assigned memory BAR");
        }
        if (offset >= bar.size()) {
            throw new GuestDriverException(String.format("%s: MSI-X %s offset 0x%x is outside %s", fn, what, offset, bar));
        }
        return bar.address() + offset;
    }

    public int vectorCount() {
        return vectors;
    }

    public int capabilityOffset() {
        return capability;
    }

    /** Guest-physical address of the vector table. */
    public long tableAddress() {
        return table;
    }

    /** Guest-physical address of the pending-bit array. */
    public long pbaAddress() {
        return pba;
    }

    /**
     * Enables MSI-X with {@code messages.get(v)} in vector v, as Linux does: enable with the
     * function masked, program every entry unmasked, then lift the function mask. Vectors past
     * the list stay masked.
     */
    public void enable(List<MsiMessage> messages) {
        if (messages.size() > vectors) {
            throw new IllegalArgumentException(fn + ": " + messages.size() + " MSI-X messages for " + vectors + " vectors");
        }
        writeControl(CONTROL_ENABLE | CONTROL_FUNCTION_MASK);
        for (int v = 0; v < messages.size(); v++) {
            program(v, messages.get(v));
            unmask(v);
        }
        writeControl(CONTROL_ENABLE);
    }

    /** Disables MSI-X (vectors keep their contents). */
    public void disable() {
        writeControl(0);
    }

    public boolean isEnabled() {
        return (fn.read16(capability + CONTROL) & CONTROL_ENABLE) != 0;
    }

    public boolean isFunctionMasked() {
        return (fn.read16(capability + CONTROL) & CONTROL_FUNCTION_MASK) != 0;
    }

    /** Sets or clears the function mask, keeping the enable bit. */
    public void setFunctionMask(boolean masked) {
        int control = fn.read16(capability + CONTROL) & (CONTROL_ENABLE | CONTROL_FUNCTION_MASK);
        writeControl(masked ? control | CONTROL_FUNCTION_MASK : control & ~CONTROL_FUNCTION_MASK);
    }

    private void writeControl(int bits) {
        int control = fn.read16(capability + CONTROL);
        fn.write16(capability + CONTROL, (control & ~(CONTROL_ENABLE | CONTROL_FUNCTION_MASK)) | bits);
    }

    /** Writes a vector's address and data (mask bit untouched). */
    public void program(int vector, MsiMessage message) {
        long entry = entry(vector);
        cpu.writeMmio(entry + ENTRY_ADDRESS_LO, 4, message.address() & 0xFFFF_FFFFL);
        cpu.writeMmio(entry + ENTRY_ADDRESS_HI, 4, message.address() >>> 32);
        cpu.writeMmio(entry + ENTRY_DATA, 4, message.data() & 0xFFFF_FFFFL);
    }

    /** The vector's address and data as the table holds them. */
    public MsiMessage message(int vector) {
        long entry = entry(vector);
        long address = cpu.readMmio(entry + ENTRY_ADDRESS_LO, 4) | cpu.readMmio(entry + ENTRY_ADDRESS_HI, 4) << 32;
        return new MsiMessage(address, (int) cpu.readMmio(entry + ENTRY_DATA, 4));
    }

    public void mask(int vector) {
        long control = entry(vector) + ENTRY_CONTROL;
        cpu.writeMmio(control, 4, cpu.readMmio(control, 4) | ENTRY_MASKED);
    }

    public void unmask(int vector) {
        long control = entry(vector) + ENTRY_CONTROL;
        cpu.writeMmio(control, 4, cpu.readMmio(control, 4) & ~ENTRY_MASKED);
    }

    /** The vector's own mask bit (not the function mask). */
    public boolean isMasked(int vector) {
        return (cpu.readMmio(entry(vector) + ENTRY_CONTROL, 4) & ENTRY_MASKED) != 0;
    }

    /** The vector's pending bit, read from the PBA with an aligned dword read. */
    public boolean isPending(int vector) {
        checkVector(vector);
        long dword = cpu.readMmio(pba + 4L * (vector / 32), 4);
        return (dword >>> (vector % 32) & 1) != 0;
    }

    private long entry(int vector) {
        checkVector(vector);
        return table + (long) ENTRY_SIZE * vector;
    }

    private void checkVector(int vector) {
        if (vector < 0 || vector >= vectors) {
            throw new IllegalArgumentException(fn + ": MSI-X vector " + vector + " out of range 0.." + (vectors - 1));
        }
    }
}
