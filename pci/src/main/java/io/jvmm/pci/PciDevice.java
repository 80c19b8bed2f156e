package io.jvmm.pci;

import static io.jvmm.pci.ConfigRegisters.*;

import io.jvmm.pci.dispatch.IoCompletion;
import io.jvmm.pci.dispatch.IoRegion;
import io.jvmm.pci.dispatch.IoSpace;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A conventional PCI function with a type-0 header: identity registers, command/status, six
 * BARs, interrupt pin/line and a capability list, all in a {@link ConfigSpace} with the masks the
 * PCI Local Bus Specification prescribes.
 *
 * <p>A BAR is mapped in its {@link IoSpace} (IO in port I/O, memory in MMIO) exactly while its
 * decoding bit in the command register is set and its programmed address is neither 0 nor the
 * sizing pattern and fits in the space. Mapping onto a range someone else owns logs a warning
 * and leaves the BAR unmapped: the guest never gets an exception for it.
 *
 * <p>Guest config accesses are serialised by a per-device lock; BAR accesses go straight from
 * the dispatcher to the handlers and take no lock here.
 */
public abstract class PciDevice {

    private static final Logger log = LoggerFactory.getLogger(PciDevice.class);

    private final String id;
    private final ConfigSpace config;
    private final Object lock = new Object();
    private final BarDefinition[] bars = new BarDefinition[BAR_COUNT];
    private final IoRegion[] mapped = new IoRegion[BAR_COUNT];
    private final List<InterceptedRange> interceptors = new ArrayList<>();
    private final List<Runnable> resetHooks = new ArrayList<>();
    private IoSpace mmio;
    private IoSpace pio;
    private volatile int slot = -1;

    private record InterceptedRange(int offset, int length, ConfigInterceptor interceptor) {
        int end() {
            return offset + length;
        }
    }

    /**
     * @param id the user's id for this device, named in every log line and error
     * @param classCode the 24-bit class code (class, subclass, programming interface)
     */
    protected PciDevice(String id, int vendorId, int deviceId, int classCode, int revision,
                        int subsystemVendorId, int subsystemId) {
        if (id == null || id.isBlank()) {
            throw new IllegalArgumentException("a PCI device needs a non-empty id");
        }
        this.id = id;
        check16(vendorId, "vendor id");
        if (vendorId == 0xFFFF) {
            throw new IllegalArgumentException(id + ": vendor id 0xffff means 'no device'");
        }
        check16(deviceId, "device id");
        check16(subsystemVendorId, "subsystem vendor id");
        check16(subsystemId, "subsystem id");
        if (classCode < 0 || classCode > 0xFFFFFF) {
            throw new IllegalArgumentException(id + ": class code must be 24 bits, got 0x" + Integer.toHexString(classCode));
        }
        if (revision < 0 || revision > 0xFF) {
            throw new IllegalArgumentException(id + ": revision must be 8 bits, got " + revision);
        }
        config = new ConfigSpace(id);
        config.set16(VENDOR_ID, vendorId);
        config.set16(DEVICE_ID, deviceId);
        config.set32(REVISION_ID, (classCode << 8) | revision);
        config.set8(HEADER_TYPE, 0);
        config.set16(SUBSYSTEM_VENDOR_ID, subsystemVendorId);
        config.set16(SUBSYSTEM_ID, subsystemId);
        config.setWritableBits(COMMAND, 2, COMMAND_WRITABLE);
        config.setW1cBits(STATUS, 2, STATUS_W1C);
        config.setWritable(CACHE_LINE_SIZE, 1);
        config.setWritable(INTERRUPT_LINE, 1);
    }

    private void check16(int value, String what) {
        if (value < 0 || value > 0xFFFF) {
            throw new IllegalArgumentException(id + ": " + what + " must be 16 bits, got 0x" + Integer.toHexString(value));
        }
    }

    /** The user's id for this device. */
    public String id() {
        return id;
    }

    public final ConfigSpace config() {
        return config;
    }

    /** The bus slot this device is attached at, or -1. */
    public int slot() {
        return slot;
    }

    /**
     * Implements BAR {@code index} (0..5). A {@link BarKind#MEM64} BAR also takes register
     * {@code index + 1}.
     */
    protected final void defineBar(int index, BarDefinition bar) {
        Objects.requireNonNull(bar, "bar");
        synchronized (lock) {
            checkBarIndex(index);
            int last = bar.kind() == BarKind.MEM64 ? index + 1 : index;
            if (last >= BAR_COUNT) {
                throw new IllegalArgumentException(id + ": a 64-bit BAR cannot start at BAR" + index);
            }
            for (int i = index; i <= last; i++) {
                if (bars[i] != null || (i > 0 && bars[i - 1] != null && bars[i - 1].kind() == BarKind.MEM64)) {
                    throw new IllegalArgumentException(id + ": BAR" + i + " is already defined");
                }
            }
            bars[index] = bar;
            config.set32(barRegister(index), bar.typeBits());
            config.setWritableBits(barRegister(index), 4, bar.lowWritableBits());
            if (bar.kind() == BarKind.MEM64) {
                config.set32(barRegister(index + 1), 0);
                config.setWritableBits(barRegister(index + 1), 4, bar.highWritableBits());
            }
        }
    }

    /** BAR {@code index}'s definition; empty if unimplemented or the upper half of a 64-bit BAR. */
    public Optional<BarDefinition> bar(int index) {
        synchronized (lock) {
            checkBarIndex(index);
            return Optional.ofNullable(bars[index]);
        }
    }

    /**
     * The base address programmed in BAR {@code index}, or -1 if the BAR is unimplemented or
     * holds 0 or the sizing pattern. Whether it is mapped also depends on the command register:
     * see {@link #barRegion}.
     */
    public long barAddress(int index) {
        synchronized (lock) {
            checkBarIndex(index);
            return bars[index] == null ? -1 : programmedAddress(index);
        }
    }

    /** The region BAR {@code index} is currently mapped as, if it is. */
    public Optional<IoRegion> barRegion(int index) {
        synchronized (lock) {
            checkBarIndex(index);
            return Optional.ofNullable(mapped[index]);
        }
    }

    /** Sets the interrupt pin register (0 none, 1..4 = INTA#..INTD#); read-only to the guest. */
    protected final void setInterruptPin(int pin) {
        if (pin < 0 || pin > 4) {
            throw new IllegalArgumentException(id + ": interrupt pin must be 0..4, got " + pin);
        }
        config.set8(INTERRUPT_PIN, pin);
    }

    /** Guest config read of 1, 2 or 4 bytes, through any interceptor of the bytes read. */
    public final int configRead(int offset, int size) {
        checkAccess(offset, size);
        synchronized (lock) {
            int value = config.read(offset, size);
            for (InterceptedRange range : interceptors) {
                int start = Math.max(offset, range.offset());
                int end = Math.min(offset + size, range.end());
                if (start >= end) {
                    continue;
                }
                int shift = 8 * (start - offset);
                int mask = bytesMask(end - start);
                int stored = (value >>> shift) & mask;
                int seen = range.interceptor().read(start - range.offset(), end - start, stored) & mask;
                value = (value & ~(mask << shift)) | (seen << shift);
            }
            return value;
        }
    }

    /**
     * Guest config write of 1, 2 or 4 bytes: masks applied, command and BAR changes (un)map BARs,
     * interceptors of the written bytes are told. Returns what the vCPU must wait for.
     */
    public final CompletableFuture<Void> configWrite(int offset, int size, int value) {
        checkAccess(offset, size);
        synchronized (lock) {
            config.write(offset, size, value);
            int end = offset + size;
            if (overlaps(offset, end, COMMAND, COMMAND + 2) || overlaps(offset, end, BAR0, barRegister(BAR_COUNT))) {
                updateBars();
            }
            List<CompletableFuture<Void>> waits = null;
            for (InterceptedRange range : interceptors) {
                int start = Math.max(offset, range.offset());
                int stop = Math.min(end, range.end());
                if (start >= stop) {
                    continue;
                }
                int part = (value >>> (8 * (start - offset))) & bytesMask(stop - start);
                CompletableFuture<Void> wait = range.interceptor().written(start - range.offset(), stop - start, part);
                if (wait != IoCompletion.DONE) {
                    if (waits == null) {
                        waits = new ArrayList<>();
                    }
                    waits.add(Objects.requireNonNull(wait, () -> id + ": config interceptor returned a null completion"));
                }
            }
            return waits == null ? IoCompletion.DONE : IoCompletion.all(waits);
        }
    }

    /**
     * Routes guest accesses to {@code [offset, offset + length)} of config space (above the
     * standard header) through {@code interceptor} as well. Public so that capability helpers in
     * other packages (MSI-X) can install themselves.
     */
    public final void interceptConfig(int offset, int length, ConfigInterceptor interceptor) {
        Objects.requireNonNull(interceptor, "interceptor");
        if (offset < HEADER_END || length <= 0 || offset + length > ConfigSpace.SIZE) {
            throw new IllegalArgumentException(String.format(
                    "%s: can only intercept config ranges within 0x40..0xff, got offset 0x%x length %d", id, offset, length));
        }
        synchronized (lock) {
            for (InterceptedRange range : interceptors) {
                if (overlaps(offset, offset + length, range.offset(), range.end())) {
                    throw new IllegalArgumentException(String.format("%s: config range 0x%x+%d is already intercepted at 0x%x+%d",
                            id, offset, length, range.offset(), range.length()));
                }
            }
            interceptors.add(new InterceptedRange(offset, length, interceptor));
        }
    }

    /** Runs {@code hook} on every function reset, after the standard header is reset (capabilities use it). */
    public final void addResetHook(Runnable hook) {
        synchronized (lock) {
            resetHooks.add(Objects.requireNonNull(hook, "hook"));
        }
    }

    public boolean memoryDecoding() {
        return (config.get16(COMMAND) & COMMAND_MEMORY) != 0;
    }

    public boolean ioDecoding() {
        return (config.get16(COMMAND) & COMMAND_IO) != 0;
    }

    public boolean busMaster() {
        return (config.get16(COMMAND) & COMMAND_BUS_MASTER) != 0;
    }

    public boolean intxDisabled() {
        return (config.get16(COMMAND) & COMMAND_INTX_DISABLE) != 0;
    }

    /**
     * Resets the function: command register, status error bits, cache line size, interrupt line
     * and BAR addresses cleared (so BARs are unmapped), then the reset hooks run, then
     * {@link #reset()}.
     */
    public final void resetFunction() {
        synchronized (lock) {
            log.debug("{}: function reset", id);
            config.set16(COMMAND, 0);
            config.set16(STATUS, config.get16(STATUS) & ~STATUS_W1C);
            config.set8(CACHE_LINE_SIZE, 0);
            config.set8(INTERRUPT_LINE, 0);
            for (int i = 0; i < BAR_COUNT; i++) {
                if (bars[i] != null) {
                    config.set32(barRegister(i), bars[i].typeBits());
                    if (bars[i].kind() == BarKind.MEM64) {
                        config.set32(barRegister(i + 1), 0);
                    }
                }
            }
            updateBars();
            for (Runnable hook : resetHooks) {
                hook.run();
            }
            reset();
        }
    }

    /** Device-specific part of a function reset; called by {@link #resetFunction()} with the config lock held. */
    protected void reset() {
    }

    /** Called with the config lock held after BAR {@code index} was mapped (e.g. to move ioeventfds). */
    protected void barMapped(int index, IoRegion region) {
    }

    /** The lock guest config accesses and BAR mapping run under, for subclasses that extend them. */
    protected final Object configLock() {
        return lock;
    }

    /** Called with the config lock held after BAR {@code index} was unmapped. */
    protected void barUnmapped(int index, IoRegion region) {
    }

    /** Called by the bus. */
    final void attached(int slot, IoSpace mmio, IoSpace pio) {
        synchronized (lock) {
            if (this.slot >= 0) {
                throw new IllegalStateException(id + " is already attached at slot " + this.slot);
            }
            this.mmio = Objects.requireNonNull(mmio, "mmio");
            this.pio = Objects.requireNonNull(pio, "pio");
            this.slot = slot;
            updateBars();
        }
    }

    private void updateBars() {
        for (int i = 0; i < BAR_COUNT; i++) {
            if (bars[i] != null) {
                updateBar(i);
            }
        }
    }

    private void updateBar(int index) {
        BarDefinition bar = bars[index];
        IoSpace space = bar.kind() == BarKind.IO ? pio : mmio;
        if (space == null) {
            return;
        }
        boolean decoding = bar.kind() == BarKind.IO ? ioDecoding() : memoryDecoding();
        long address = decoding ? programmedAddress(index) : -1;
        if (address != -1 && (address < 0 || address > space.size() - bar.size())) {
            log.debug("{}: BAR{} at 0x{} does not fit in {}, not mapped", id, index, Long.toHexString(address), space.name());
            address = -1;
        }
        IoRegion current = mapped[index];
        if (current != null && current.base() == address) {
            return;
        }
        if (current != null) {
            space.unregister(current);
            mapped[index] = null;
            log.debug("{}: BAR{} unmapped from {} 0x{}", id, index, space.name(), Long.toHexString(current.base()));
            barUnmapped(index, current);
        }
        if (address == -1) {
            return;
        }
        try {
            IoRegion region = space.register(id + " BAR" + index, address, bar.size(), bar.handler());
            mapped[index] = region;
            log.debug("{}: BAR{} mapped at {} 0x{} size 0x{}", id, index, space.name(),
                    Long.toHexString(address), Long.toHexString(bar.size()));
            barMapped(index, region);
        } catch (IllegalArgumentException e) {
            log.warn("{}: BAR{} left unmapped: {}", id, index, e.getMessage());
        }
    }

    /** The address in BAR register(s) {@code index}, or -1 for 0 or the sizing pattern. */
    private long programmedAddress(int index) {
        BarDefinition bar = bars[index];
        int low = config.get32(barRegister(index));
        int lowWritable = bar.lowWritableBits();
        if (lowWritable != 0 && (low & lowWritable) == lowWritable) {
            return -1;
        }
        long address = bar.kind() == BarKind.IO ? low & 0xFFFFFFFCL : low & 0xFFFFFFF0L;
        if (bar.kind() == BarKind.MEM64) {
            int high = config.get32(barRegister(index + 1));
            int highWritable = bar.highWritableBits();
            if ((high & highWritable) == highWritable) {
                return -1;
            }
            address |= (high & 0xFFFFFFFFL) << 32;
        }
        return address == 0 ? -1 : address;
    }

    private static int barRegister(int index) {
        return ConfigRegisters.bar(index);
    }

    private void checkBarIndex(int index) {
        if (index < 0 || index >= BAR_COUNT) {
            throw new IllegalArgumentException(id + ": BAR index must be 0..5, got " + index);
        }
    }

    private void checkAccess(int offset, int size) {
        if ((size != 1 && size != 2 && size != 4) || offset < 0 || offset + size > ConfigSpace.SIZE) {
            throw new IllegalArgumentException(String.format("%s: bad config access of size %d at offset 0x%x", id, size, offset));
        }
    }

    private static boolean overlaps(int start, int end, int otherStart, int otherEnd) {
        return start < otherEnd && otherStart < end;
    }

    private static int bytesMask(int bytes) {
        return bytes == 4 ? -1 : (1 << (8 * bytes)) - 1;
    }

    @Override
    public String toString() {
        return getClass().getSimpleName() + "[" + id + (slot >= 0 ? " @" + slot : "") + "]";
    }
}
