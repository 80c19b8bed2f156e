package io.jvmm.pci;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * The 256 bytes of a conventional PCI function's configuration space, little-endian, with a
 * per-bit writable mask and a per-bit write-1-to-clear mask. Everything is read-only until made
 * writable.
 *
 * <p>Two paths: {@link #read}/{@link #write} are the guest's and apply the masks;
 * {@code get*}/{@code set*} are the device's and bypass them (a device sets its ids, status
 * bits, capability contents). Thread-safe: accesses are short and rare, so they synchronise.
 */
public final class ConfigSpace {

    public static final int SIZE = 256;
    /** The list can hold at most this many entries (4-byte aligned, from 0x40); more means a loop. */
    private static final int MAX_CAPABILITIES = (SIZE - ConfigRegisters.HEADER_END) / 4;

    private final String owner;
    private final byte[] data = new byte[SIZE];
    private final byte[] writable = new byte[SIZE];
    private final byte[] w1c = new byte[SIZE];
    /** Capabilities this object allocated, by offset, for their lengths. */
    private final Map<Integer, Capability> allocated = new TreeMap<>();
    private int nextCapability = ConfigRegisters.HEADER_END;
    private int lastCapability = -1;

    /** @param owner the device id, named in error messages */
    public ConfigSpace(String owner) {
        this.owner = Objects.requireNonNull(owner, "owner");
    }

    /** Guest read of 1, 2 or 4 bytes. */
    public synchronized int read(int offset, int size) {
        check(offset, size);
        return load(offset, size);
    }

    /**
     * Guest write of 1, 2 or 4 bytes: writable bits take the written value, write-1-to-clear bits
     * written as 1 are cleared, everything else is unchanged.
     */
    public synchronized void write(int offset, int size, int value) {
        check(offset, size);
        for (int i = 0; i < size; i++) {
            int at = offset + i;
            int v = (value >>> (8 * i)) & 0xFF;
            int old = data[at] & 0xFF;
            int next = (old & ~writable[at]) | (v & writable[at]);
            next &= ~(v & w1c[at]);
            data[at] = (byte) next;
        }
    }

    public synchronized int get8(int offset) {
        check(offset, 1);
        return load(offset, 1);
    }

    public synchronized int get16(int offset) {
        check(offset, 2);
        return load(offset, 2);
    }

    public synchronized int get32(int offset) {
        check(offset, 4);
        return load(offset, 4);
    }

    public synchronized void set8(int offset, int value) {
        check(offset, 1);
        store(offset, 1, value);
    }

    public synchronized void set16(int offset, int value) {
        check(offset, 2);
        store(offset, 2, value);
    }

    public synchronized void set32(int offset, int value) {
        check(offset, 4);
        store(offset, 4, value);
    }

    /** Makes every bit of {@code length} bytes from {@code offset} guest-writable. */
    public synchronized void setWritable(int offset, int length) {
        checkRange(offset, length);
        for (int i = 0; i < length; i++) {
            if (w1c[offset + i] != 0) {
                throw conflict(offset + i);
            }
            writable[offset + i] = (byte) 0xFF;
        }
    }

    /** Sets exactly which bits of the 1-, 2- or 4-byte register at {@code offset} the guest can write. */
    public synchronized void setWritableBits(int offset, int size, int mask) {
        check(offset, size);
        for (int i = 0; i < size; i++) {
            byte m = (byte) (mask >>> (8 * i));
            if ((m & w1c[offset + i]) != 0) {
                throw conflict(offset + i);
            }
            writable[offset + i] = m;
        }
    }

    /** Sets exactly which bits of the 1-, 2- or 4-byte register at {@code offset} are write-1-to-clear. */
    public synchronized void setW1cBits(int offset, int size, int mask) {
        check(offset, size);
        for (int i = 0; i < size; i++) {
            byte m = (byte) (mask >>> (8 * i));
            if ((m & writable[offset + i]) != 0) {
                throw conflict(offset + i);
            }
            w1c[offset + i] = m;
        }
    }

    /** The guest-writable bits of the 1-, 2- or 4-byte register at {@code offset}. */
    public synchronized int writableBits(int offset, int size) {
        check(offset, size);
        int mask = 0;
        for (int i = 0; i < size; i++) {
            mask |= (writable[offset + i] & 0xFF) << (8 * i);
        }
        return mask;
    }

    /**
     * Appends a capability of {@code length} bytes (including its id and next-pointer bytes) to
     * the list: sets the status register's capability-list bit, links it from the capabilities
     * pointer (first one) or from the previous capability's next pointer, and writes its id.
     * Capabilities are placed 4-byte aligned from 0x40.
     *
     * @return the capability's offset; the caller fills in the rest
     */
    public synchronized int addCapability(int capId, int length) {
        if (capId < 0 || capId > 0xFF) {
            throw new IllegalArgumentException(owner + ": capability id must be 0..0xff, got 0x" + Integer.toHexString(capId));
        }
        if (length < 2) {
            throw new IllegalArgumentException(owner + ": capability 0x" + Integer.toHexString(capId)
                    + " needs at least 2 bytes (id and next pointer), got " + length);
        }
        int offset = nextCapability;
        if (offset + length > SIZE) {
            throw new IllegalStateException(String.format("%s: no room for capability 0x%02x of %d bytes at 0x%02x",
                    owner, capId, length, offset));
        }
        if (lastCapability < 0) {
            store(ConfigRegisters.CAPABILITIES_POINTER, 1, offset);
            store(ConfigRegisters.STATUS, 2, load(ConfigRegisters.STATUS, 2) | ConfigRegisters.STATUS_CAPABILITIES_LIST);
        } else {
            store(lastCapability + 1, 1, offset);
        }
        store(offset, 1, capId);
        store(offset + 1, 1, 0);
        lastCapability = offset;
        nextCapability = (offset + length + 3) & ~3;
        allocated.put(offset, new Capability(capId, offset, length));
        return offset;
    }

    /**
     * Walks the capability list as a guest would (status bit, capabilities pointer, next
     * pointers). The lengths are those given to {@link #addCapability}; -1 for an entry this
     * object did not allocate.
     *
     * @throws IllegalStateException if the chain loops or points into the header
     */
    public synchronized List<Capability> capabilities() {
        List<Capability> caps = new ArrayList<>();
        if ((load(ConfigRegisters.STATUS, 2) & ConfigRegisters.STATUS_CAPABILITIES_LIST) == 0) {
            return caps;
        }
        int ptr = load(ConfigRegisters.CAPABILITIES_POINTER, 1) & 0xFC;
        while (ptr != 0) {
            if (ptr < ConfigRegisters.HEADER_END || caps.size() >= MAX_CAPABILITIES) {
                throw new IllegalStateException(String.format("%s: broken capability list at 0x%02x after %s", owner, ptr, caps));
            }
            Capability known = allocated.get(ptr);
            caps.add(new Capability(load(ptr, 1), ptr, known == null ? -1 : known.length()));
            ptr = load(ptr + 1, 1) & 0xFC;
        }
        return caps;
    }

    /** The first capability with {@code capId}, or -1. */
    public synchronized int findCapability(int capId) {
        for (Capability cap : capabilities()) {
            if (cap.id() == capId) {
                return cap.offset();
            }
        }
        return -1;
    }

    private int load(int offset, int size) {
        int v = 0;
        for (int i = 0; i < size; i++) {
            v |= (data[offset + i] & 0xFF) << (8 * i);
        }
        return v;
    }

    private void store(int offset, int size, int value) {
        for (int i = 0; i < size; i++) {
            data[offset + i] = (byte) (value >>> (8 * i));
        }
    }

    private void check(int offset, int size) {
        if (size != 1 && size != 2 && size != 4) {
            throw new IllegalArgumentException(owner + ": config access size must be 1, 2 or 4, got " + size
                    + " at offset 0x" + Integer.toHexString(offset));
        }
        checkRange(offset, size);
    }

    private void checkRange(int offset, int length) {
        if (offset < 0 || length < 0 || offset + length > SIZE) {
            throw new IllegalArgumentException(String.format("%s: config range offset 0x%x length %d is outside 0x00..0xff",
                    owner, offset, length));
        }
    }

    private IllegalArgumentException conflict(int offset) {
        return new IllegalArgumentException(String.format(
                "%s: config byte 0x%02x cannot have bits both writable and write-1-to-clear", owner, offset));
    }
}
