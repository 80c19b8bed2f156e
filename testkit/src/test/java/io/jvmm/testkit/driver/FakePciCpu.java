package io.jvmm.testkit.driver;

import io.jvmm.pci.mem.GuestMemory;

import java.util.HashMap;
import java.util.Map;

/**
 * A CPU whose only device is a scripted PCI configuration space behind mechanism #1: enough to
 * exercise enumeration, capability walking and BAR sizing on layouts the emulator does not
 * produce (multi-function devices, I/O and 64-bit BARs, broken capability lists). BAR registers
 * honour their size (writable address bits only); everything else is plain storage.
 */
final class FakePciCpu implements GuestCpu {
    /** One function's 256 bytes of config space and its BAR sizes (0 = unimplemented). */
    static final class Function {
        final byte[] bytes = new byte[256];
        final long[] barSizes = new long[6];
        final int[] barTypeBits = new int[6];

        Function(int vendor, int device, int headerType) {
            put16(0, vendor);
            put16(2, device);
            bytes[0x0E] = (byte) headerType;
        }

        void put8(int off, int v) {
            bytes[off] = (byte) v;
        }

        void put16(int off, int v) {
            bytes[off] = (byte) v;
            bytes[off + 1] = (byte) (v >> 8);
        }

        void put32(int off, int v) {
            put16(off, v);
            put16(off + 2, v >>> 16);
        }

        int get32(int off) {
            return (bytes[off] & 0xFF) | (bytes[off + 1] & 0xFF) << 8 | (bytes[off + 2] & 0xFF) << 16 | (bytes[off + 3] & 0xFF) << 24;
        }

        /** An I/O BAR, a 32-bit memory BAR or (using index+1 too) a 64-bit memory BAR. */
        Function bar(int index, long size, int typeBits) {
            barSizes[index] = size;
            barTypeBits[index] = typeBits;
            put32(0x10 + 4 * index, typeBits);
            return this;
        }

        void writeConfig(int off, int size, int value) {
            int barIndex = (off - 0x10) / 4;
            if (off >= 0x10 && off < 0x28 && size == 4) {
                writeBar(barIndex, value);
                return;
            }
            for (int i = 0; i < size; i++) {
                bytes[off + i] = (byte) (value >>> (8 * i));
            }
        }

        private void writeBar(int index, int value) {
            if (barSizes[index] != 0) {
                boolean io = (barTypeBits[index] & 1) != 0;
                long mask = ~(barSizes[index] - 1) & (io ? 0xFFFF_FFFCL : 0xFFFF_FFF0L);
                put32(0x10 + 4 * index, (int) (value & mask) | barTypeBits[index]);
            } else if (index > 0 && (barTypeBits[index - 1] & 0b110) == 0b100) {
                long mask = ~(barSizes[index - 1] - 1) >>> 32;   // the upper half of a 64-bit BAR
                put32(0x10 + 4 * index, (int) (value & mask));
            }
        }
    }

    private final Map<Integer, Function> functions = new HashMap<>();
    private int address;

    Function add(int slot, int function, Function f) {
        functions.put(slot << 3 | function, f);
        return f;
    }

    private Function target() {
        if ((address & 0x8000_0000) == 0 || ((address >>> 16) & 0xFF) != 0) {
            return null;
        }
        return functions.get((address >>> 8) & 0xFF);
    }

    private int read(int port, int size) {
        if (port == 0xCF8 && size == 4) {
            return address;
        }
        Function f = target();
        if (f == null || port < 0xCFC) {
            return size == 4 ? -1 : (1 << (8 * size)) - 1;
        }
        int off = (address & 0xFC) + (port - 0xCFC);
        int v = f.get32(off & ~3) >>> (8 * (off & 3));
        return size == 4 ? v : v & ((1 << (8 * size)) - 1);
    }

    private void write(int port, int size, int value) {
        if (port == 0xCF8 && size == 4) {
            address = value;
            return;
        }
        Function f = target();
        if (f != null && port >= 0xCFC) {
            f.writeConfig((address & 0xFC) + (port - 0xCFC), size, value);
        }
    }

    @Override
    public int inb(int port) {
        return read(port, 1);
    }

    @Override
    public int inw(int port) {
        return read(port, 2);
    }

    @Override
    public int inl(int port) {
        return read(port, 4);
    }

    @Override
    public void outb(int port, int value) {
        write(port, 1, value);
    }

    @Override
    public void outw(int port, int value) {
        write(port, 2, value);
    }

    @Override
    public void outl(int port, int value) {
        write(port, 4, value);
    }

    @Override
    public long readMmio(long address, int size) {
        throw new UnsupportedOperationException("no MMIO on the fake PCI CPU");
    }

    @Override
    public void writeMmio(long address, int size, long value) {
        throw new UnsupportedOperationException("no MMIO on the fake PCI CPU");
    }

    @Override
    public GuestMemory memory() {
        throw new UnsupportedOperationException("no RAM on the fake PCI CPU");
    }
}
