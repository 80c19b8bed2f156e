package io.jvmm.pci;

import static io.jvmm.pci.ConfigRegisters.*;

import io.jvmm.pci.dispatch.IoCompletion;
import io.jvmm.pci.dispatch.IoHandler;
import io.jvmm.pci.dispatch.IoRegion;
import io.jvmm.pci.dispatch.IoSpace;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
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
 * <p>Registers whose writes only signal an eventfd are declared as {@link IoEvent}s: the machine's
 * {@link IoEventBinder} takes them off the vCPU path where it can (KVM ioeventfds), and otherwise
 * the trapped write is matched here and the eventfd signalled, so a device behaves the same in
 * every machine. A RAM BAR ({@link BarDefinition#ram}) is registered as RAM, which a machine with
 * a CPU maps into the guest.
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
    private final BarAccess[] access = new BarAccess[BAR_COUNT];
    /** I/O events per BAR; replaced (never mutated) under the lock, read lock-free on every BAR write. */
    private final IoEvent[][] ioEvents = new IoEvent[BAR_COUNT][];
    /** The events the binder took, with the address each is bound at; guarded by the lock. */
    private final Map<IoEvent, Long> boundEvents = new IdentityHashMap<>();
    private IoEventBinder binder = IoEventBinder.TRAPPED;
    private volatile io.jvmm.pci.msix.Msix msixCapability;
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
            access[index] = new BarAccess(index, bar.handler());
            ioEvents[index] = new IoEvent[0];
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

    /**
     * A guest read of BAR {@code index} as the trapped path sees it (the vfio-user server's region
     * reads come here).
     */
    public final long barRead(int index, long offset, int size) {
        return barAccess(index).read(offset, size);
    }

    /** A guest write to BAR {@code index} as the trapped path sees it: I/O events first, then the handler. */
    public final CompletableFuture<Void> barWrite(int index, long offset, int size, long value) {
        return barAccess(index).write(offset, size, value);
    }

    private BarAccess barAccess(int index) {
        checkBarIndex(index);
        BarAccess a = access[index];
        if (a == null) {
            throw new IllegalArgumentException(id + ": BAR" + index + " is not implemented");
        }
        return a;
    }

    /**
     * Declares a register whose writes signal {@code event.fd()} (see {@link IoEvent}); bound by
     * the machine at once if its BAR is mapped. The device keeps owning the eventfd.
     */
    public final void addIoEvent(IoEvent event) {
        Objects.requireNonNull(event, "event");
        synchronized (lock) {
            BarDefinition bar = bars[event.bar()];
            if (bar == null || bar.isRam()) {
                throw new IllegalArgumentException(id + ": I/O event " + event + " needs a register BAR" + event.bar());
            }
            if (event.offset() > bar.size() - event.length()) {
                throw new IllegalArgumentException(id + ": I/O event " + event + " lies outside BAR" + event.bar()
                        + " (size 0x" + Long.toHexString(bar.size()) + ")");
            }
            for (IoEvent other : ioEvents[event.bar()]) {
                if (other.offset() == event.offset() && other.length() == event.length()
                        && (!other.matchData() || !event.matchData() || other.data() == event.data())) {
                    throw new IllegalArgumentException(id + ": I/O event " + event + " overlaps " + other);
                }
            }
            IoEvent[] next = Arrays.copyOf(ioEvents[event.bar()], ioEvents[event.bar()].length + 1);
            next[next.length - 1] = event;
            ioEvents[event.bar()] = next;
            if (mapped[event.bar()] != null) {
                bindEvent(event, mapped[event.bar()].base());
            }
        }
    }

    /** Withdraws an event added by {@link #addIoEvent} (the same instance); does nothing if absent. */
    public final void removeIoEvent(IoEvent event) {
        synchronized (lock) {
            IoEvent[] current = ioEvents[event.bar()];
            if (current == null) {
                return;
            }
            List<IoEvent> next = new ArrayList<>(Arrays.asList(current));
            if (!next.removeIf(e -> e == event)) {
                return;
            }
            ioEvents[event.bar()] = next.toArray(new IoEvent[0]);
            unbindEvent(event);
        }
    }

    /** The I/O events of BAR {@code index}. */
    public final List<IoEvent> ioEvents(int index) {
        checkBarIndex(index);
        IoEvent[] events = ioEvents[index];
        return events == null ? List.of() : List.of(events);
    }

    /**
     * The machine's way of binding I/O events (KVM ioeventfds). Events already bound to a previous
     * binder are unbound from it first. {@link IoEventBinder#TRAPPED} is the default.
     */
    public final void bindIoEvents(IoEventBinder newBinder) {
        Objects.requireNonNull(newBinder, "binder");
        synchronized (lock) {
            for (IoEvent e : new ArrayList<>(boundEvents.keySet())) {
                unbindEvent(e);
            }
            binder = newBinder;
            for (int i = 0; i < BAR_COUNT; i++) {
                if (mapped[i] != null) {
                    for (IoEvent e : ioEvents[i]) {
                        bindEvent(e, mapped[i].base());
                    }
                }
            }
        }
    }

    private void bindEvent(IoEvent event, long barBase) {
        long address = barBase + event.offset();
        boolean pio = bars[event.bar()].kind() == BarKind.IO;
        if (binder.bind(event, address, pio)) {
            boundEvents.put(event, address);
        }
    }

    private void unbindEvent(IoEvent event) {
        Long address = boundEvents.remove(event);
        if (address != null) {
            binder.unbind(event, address, bars[event.bar()].kind() == BarKind.IO);
        }
    }

    /**
     * What the I/O space calls for a BAR: a write that is one of the BAR's I/O events signals its
     * eventfd (the trapped twin of a KVM ioeventfd); everything else goes to the device's handler.
     */
    private final class BarAccess implements IoHandler {
        private final int index;
        private final IoHandler handler;

        BarAccess(int index, IoHandler handler) {
            this.index = index;
            this.handler = handler;
        }

        @Override
        public long read(long offset, int size) {
            return handler.read(offset, size);
        }

        @Override
        public CompletableFuture<Void> write(long offset, int size, long value) {
            for (IoEvent e : ioEvents[index]) {
                if (e.matches(offset, size, value)) {
                    if (!e.fd().trySignal(1)) {   // withdrawn and closed while this write was under way
                        log.debug("{}: the I/O event at BAR{}+0x{} was withdrawn during this write; dropped", id, index,
                                Long.toHexString(offset));
                    }
                    return IoCompletion.DONE;
                }
            }
            return handler.write(offset, size, value);
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

    /** The device's MSI-X capability, if it has one ({@link io.jvmm.pci.msix.Msix#install} records it). */
    public final io.jvmm.pci.msix.Msix msixCapability() {
        return msixCapability;
    }

    /** Called by {@link io.jvmm.pci.msix.Msix#install}. */
    public final void msixInstalled(io.jvmm.pci.msix.Msix msix) {
        synchronized (lock) {
            if (msixCapability != null) {
                throw new IllegalStateException(id + " already has an MSI-X capability");
            }
            msixCapability = msix;
        }
    }

    /**
     * Returns once no device work that may touch guest memory taken away before the call is
     * still running (a vfio-user client unmapping DMA). Devices with work on other threads override it.
     */
    public void quiesce() {
    }

    /**
     * The guest memory map changed under a running device ({@code what}: DMA_MAP, DMA_UNMAP of a
     * vfio-user client). Devices that handed the map to someone else (vhost-user) say so.
     */
    public void guestMemoryChanged(String what) {
    }

    /** The machine is going away: release the device's back-end resources. */
    public void close() {
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

    /** Called by the bus when the device is unplugged: every BAR unmapped, every I/O event unbound. */
    final void detached() {
        synchronized (lock) {
            for (int i = 0; i < BAR_COUNT; i++) {
                IoRegion current = mapped[i];
                if (current == null) {
                    continue;
                }
                for (IoEvent e : ioEvents[i]) {
                    unbindEvent(e);
                }
                (bars[i].kind() == BarKind.IO ? pio : mmio).unregister(current);
                mapped[i] = null;
                barUnmapped(i, current);
            }
            this.mmio = null;
            this.pio = null;
            this.slot = -1;
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
            for (IoEvent e : ioEvents[index]) {
                unbindEvent(e);
            }
            space.unregister(current);
            mapped[index] = null;
            log.debug("{}: BAR{} unmapped from {} 0x{}", id, index, space.name(), Long.toHexString(current.base()));
            barUnmapped(index, current);
        }
        if (address == -1) {
            return;
        }
        try {
            IoRegion region = space.register(id + " BAR" + index + (bar.isRam() ? " (RAM)" : ""), address, bar.size(),
                    access[index], bar.ram());
            mapped[index] = region;
            log.debug("{}: BAR{} mapped at {} 0x{} size 0x{}", id, index, space.name(),
                    Long.toHexString(address), Long.toHexString(bar.size()));
            for (IoEvent e : ioEvents[index]) {
                bindEvent(e, address);
            }
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
