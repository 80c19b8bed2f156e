package io.jvmm.emulator.boot;

import io.jvmm.pci.mem.GuestMemory;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * An Intel MultiProcessor Specification 1.4 table: the 16-byte floating pointer structure followed
 * by the configuration table, placed in the BIOS area where guests scan for "_MP_". Without ACPI
 * this is how Linux learns how many CPUs there are, where the IOAPIC is and how ISA IRQs reach it.
 *
 * <p>Entries: one processor per vCPU (APIC id = index, vCPU 0 the bootstrap processor), one ISA bus,
 * the IOAPIC (id = number of vCPUs, the next free APIC id), I/O interrupt entries for ISA IRQs
 * 0-15 with IRQ 0 on pin 2 (the PIT's usual override; IRQ 2, the cascade, then has no entry), and
 * local interrupt entries ExtINT -> LINT0 and NMI -> LINT1 on every local APIC. PCI devices
 * interrupt by MSI/MSI-X, so no PCI bus or PCI interrupt entries are listed.
 */
public final class MpTable {
    public static final int FLOATING_SIZE = 16;
    public static final int HEADER_SIZE = 44;
    public static final int PROCESSOR_SIZE = 20;
    public static final int ENTRY_SIZE = 8;
    public static final byte SPEC_REV_1_4 = 4;

    public static final int TYPE_PROCESSOR = 0;
    public static final int TYPE_BUS = 1;
    public static final int TYPE_IOAPIC = 2;
    public static final int TYPE_IO_INTERRUPT = 3;
    public static final int TYPE_LOCAL_INTERRUPT = 4;

    public static final int INT_TYPE_INT = 0;
    public static final int INT_TYPE_NMI = 1;
    public static final int INT_TYPE_EXTINT = 3;

    public static final int CPU_ENABLED = 1;
    public static final int CPU_BOOTSTRAP = 2;
    /** Version registers of KVM's in-kernel local APIC and IOAPIC. */
    public static final int LAPIC_VERSION = 0x14;
    public static final int IOAPIC_VERSION = 0x11;
    /** CPUID signature family 6 and feature flags FPU | APIC: informational, guests read CPUID. */
    static final int CPU_SIGNATURE = 0x600;
    static final int CPU_FEATURES = 0x201;
    public static final int ISA_BUS_ID = 0;
    public static final int ISA_IRQS = 16;
    /** Highest APIC id usable by vCPUs: the IOAPIC takes the id after the last vCPU, 0xff is broadcast. */
    public static final int MAX_CPUS = 254;

    private MpTable() {
    }

    /** Bytes of floating pointer + configuration table for {@code cpus} vCPUs. */
    public static int size(int cpus) {
        return FLOATING_SIZE + configSize(cpus);
    }

    private static int configSize(int cpus) {
        int ioInterrupts = ISA_IRQS - 1;   // IRQ 2 is left out: pin 2 carries IRQ 0
        return HEADER_SIZE + cpus * PROCESSOR_SIZE + ENTRY_SIZE /* bus */ + ENTRY_SIZE /* ioapic */
                + ioInterrupts * ENTRY_SIZE + 2 * ENTRY_SIZE /* lint0, lint1 */;
    }

    /** The table image for placement at {@code address}: floating pointer first, config table right after it. */
    public static byte[] build(int cpus, long address) {
        if (cpus < 1 || cpus > MAX_CPUS) {
            throw new IllegalArgumentException("MP table: " + cpus + " vCPUs, must be 1.." + MAX_CPUS);
        }
        if (address < 0 || address + size(cpus) > 0x1_0000_0000L || address % 16 != 0) {
            throw new IllegalArgumentException(String.format("MP table address 0x%x must be 16-byte aligned below 4 GiB", address));
        }
        ByteBuffer b = ByteBuffer.allocate(size(cpus)).order(ByteOrder.LITTLE_ENDIAN);
        long configAddress = address + FLOATING_SIZE;

        // Floating pointer structure: length in 16-byte paragraphs, no default configuration.
        b.put("_MP_".getBytes(StandardCharsets.US_ASCII));
        b.putInt((int) configAddress);
        b.put((byte) 1);
        b.put(SPEC_REV_1_4);
        b.put((byte) 0);                 // checksum, below
        b.put(new byte[5]);              // feature bytes: 0 = table present, virtual-wire mode
        b.put(10, checksum(b.array(), 0, FLOATING_SIZE));

        int config = b.position();
        b.put("PCMP".getBytes(StandardCharsets.US_ASCII));
        b.putShort((short) configSize(cpus));
        b.put(SPEC_REV_1_4);
        b.put((byte) 0);                 // checksum, below
        b.put(padded("JVMM", 8));
        b.put(padded("JVMM-VM", 12));
        b.putInt(0);                     // no OEM table
        b.putShort((short) 0);
        int entryCountAt = b.position();
        b.putShort((short) 0);           // entry count, below
        b.putInt((int) MemoryLayout.LAPIC_BASE);
        b.putShort((short) 0);           // no extended table
        b.put((byte) 0);
        b.put((byte) 0);

        int entries = 0;
        for (int cpu = 0; cpu < cpus; cpu++) {
            b.put((byte) TYPE_PROCESSOR);
            b.put((byte) cpu);
            b.put((byte) LAPIC_VERSION);
            b.put((byte) (CPU_ENABLED | (cpu == 0 ? CPU_BOOTSTRAP : 0)));
            b.putInt(CPU_SIGNATURE);
            b.putInt(CPU_FEATURES);
            b.putLong(0);
            entries++;
        }
        b.put((byte) TYPE_BUS);
        b.put((byte) ISA_BUS_ID);
        b.put(padded("ISA", 6));
        entries++;

        int ioapicId = cpus;
        b.put((byte) TYPE_IOAPIC);
        b.put((byte) ioapicId);
        b.put((byte) IOAPIC_VERSION);
        b.put((byte) 1);                 // usable
        b.putInt((int) MemoryLayout.IOAPIC_BASE);
        entries++;

        for (int irq = 0; irq < ISA_IRQS; irq++) {
            if (irq == 2) {
                continue;
            }
            interrupt(b, TYPE_IO_INTERRUPT, INT_TYPE_INT, ISA_BUS_ID, irq, ioapicId, irq == 0 ? 2 : irq);
            entries++;
        }
        interrupt(b, TYPE_LOCAL_INTERRUPT, INT_TYPE_EXTINT, ISA_BUS_ID, 0, 0xFF, 0);
        interrupt(b, TYPE_LOCAL_INTERRUPT, INT_TYPE_NMI, ISA_BUS_ID, 0, 0xFF, 1);
        entries += 2;

        if (b.position() != b.capacity()) {
            throw new AssertionError("MP table size mismatch: wrote " + b.position() + " of " + b.capacity());
        }
        b.putShort(entryCountAt, (short) entries);
        b.put(config + 7, checksum(b.array(), config, configSize(cpus)));
        return b.array();
    }

    /** Builds the table for {@code cpus} vCPUs and writes it at {@link MemoryLayout#MP_TABLE_ADDR}. */
    public static AddressRange write(GuestMemory memory, int cpus) {
        byte[] table = build(cpus, MemoryLayout.MP_TABLE_ADDR);
        memory.write(MemoryLayout.MP_TABLE_ADDR, table, 0, table.length);
        return new AddressRange("mp table", MemoryLayout.MP_TABLE_ADDR, MemoryLayout.MP_TABLE_ADDR + table.length);
    }

    /** Flags 0: polarity and trigger conform to the bus (edge, active high for ISA). */
    private static void interrupt(ByteBuffer b, int entryType, int intType, int bus, int busIrq, int destApic, int destPin) {
        b.put((byte) entryType);
        b.put((byte) intType);
        b.putShort((short) 0);
        b.put((byte) bus);
        b.put((byte) busIrq);
        b.put((byte) destApic);
        b.put((byte) destPin);
    }

    /** The byte that makes the sum of [from, from+length) zero, given that byte is 0 now. */
    static byte checksum(byte[] data, int from, int length) {
        int sum = 0;
        for (int i = from; i < from + length; i++) {
            sum += data[i];
        }
        return (byte) -sum;
    }

    private static byte[] padded(String text, int length) {
        byte[] out = new byte[length];
        Arrays.fill(out, (byte) ' ');
        byte[] t = text.getBytes(StandardCharsets.US_ASCII);
        System.arraycopy(t, 0, out, 0, Math.min(t.length, length));
        return out;
    }
}
