package io.jvmm.pci.msix;

import io.jvmm.pci.BarDefinition;
import io.jvmm.pci.ConfigInterceptor;
import io.jvmm.pci.ConfigRegisters;
import io.jvmm.pci.ConfigSpace;
import io.jvmm.pci.PciDevice;
import io.jvmm.pci.dispatch.IoCompletion;
import io.jvmm.pci.dispatch.IoHandler;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicReferenceArray;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A device's MSI-X: the capability's message control (enable, function mask), the vector table
 * (address, data, per-vector mask) and the pending-bit array (PCI Local Bus Specification 3.0,
 * 6.8.2).
 *
 * <p>{@link #signal} may be called from any thread and takes no lock; masking state lives in one
 * atomic word per vector (see {@code VectorStates}) so a signal racing with a mask change is
 * never lost. Each vector's message is an immutable {@link MsiMessage} swapped atomically, so a
 * delivery uses one consistent (address, data) snapshot. Guest writes (table, message control)
 * serialise on a lock and notify observers in order.
 */
public final class Msix {

    public static final int MAX_VECTORS = 2048;
    public static final int ENTRY_SIZE = 16;
    public static final int CAPABILITY_LENGTH = 12;
    /** Message control bits. */
    public static final int CONTROL_ENABLE = 1 << 15;
    public static final int CONTROL_FUNCTION_MASK = 1 << 14;

    private static final int ENTRY_ADDRESS_LO = 0;
    private static final int ENTRY_ADDRESS_HI = 4;
    private static final int ENTRY_DATA = 8;
    private static final int ENTRY_CONTROL = 12;

    private static final Logger log = LoggerFactory.getLogger(Msix.class);

    private final String deviceId;
    private final int vectors;
    private final InterruptSink sink;
    private final VectorStates states;
    private final MsixCounters counters = new MsixCounters();
    private final AtomicReferenceArray<MsiMessage> messages;
    /**
     * Copy-on-write under {@link #lock}; an array rather than a CopyOnWriteArrayList so that a
     * mask write iterates it without allocating an iterator (the unmask path allocates nothing).
     */
    private volatile MsixVectorObserver[] observers = new MsixVectorObserver[0];
    private final Object lock = new Object();
    private final IoHandler tableHandler = new MsixTableHandler(this);
    private final IoHandler pbaHandler = new MsixPbaHandler(this);
    private volatile boolean enabled;
    private volatile boolean functionMasked;
    /** Told of each signal dropped because MSI-X is disabled (a transport's INTx fallback), or null. */
    private volatile java.util.function.IntConsumer droppedListener;
    /** Set by {@link #install}. */
    private ConfigSpace config;
    private int capability = -1;

    /**
     * @param deviceId named in logs and errors
     * @param vectors 1..2048
     * @param sink where deliveries go
     */
    public Msix(String deviceId, int vectors, InterruptSink sink) {
        this.deviceId = Objects.requireNonNull(deviceId, "deviceId");
        this.sink = Objects.requireNonNull(sink, "sink");
        if (vectors < 1 || vectors > MAX_VECTORS) {
            throw new IllegalArgumentException(deviceId + ": MSI-X vector count must be 1.." + MAX_VECTORS + ", got " + vectors);
        }
        this.vectors = vectors;
        this.states = new VectorStates(deviceId, vectors, VectorStates.VECTOR_MASKED | VectorStates.DISABLED);
        this.messages = new AtomicReferenceArray<>(vectors);
        for (int v = 0; v < vectors; v++) {
            messages.set(v, MsiMessage.ZERO);
        }
    }

    /**
     * Adds the MSI-X capability to {@code device}'s config space (table size, table and PBA
     * BAR/offset, guest-writable enable and function-mask bits), intercepts message control and
     * hooks the device's function reset. The device must already define the BARs, and must
     * route accesses to {@code [tableOffset, +tableSize())} and {@code [pbaOffset, +pbaSize())}
     * of them to {@link #tableHandler()} and {@link #pbaHandler()}.
     *
     * @return the capability's offset in config space
     */
    public int install(PciDevice device, int tableBar, long tableOffset, int pbaBar, long pbaOffset) {
        Objects.requireNonNull(device, "device");
        synchronized (lock) {
            if (capability >= 0) {
                throw new IllegalStateException(deviceId + ": MSI-X is already installed");
            }
            checkPlacement(device, "table", tableBar, tableOffset, tableSize());
            checkPlacement(device, "PBA", pbaBar, pbaOffset, pbaSize());
            if (tableBar == pbaBar && tableOffset < pbaOffset + pbaSize() && pbaOffset < tableOffset + tableSize()) {
                throw new IllegalArgumentException(String.format("%s: MSI-X table at 0x%x and PBA at 0x%x overlap in BAR%d",
                        deviceId, tableOffset, pbaOffset, tableBar));
            }
            ConfigSpace cs = device.config();
            int cap = cs.addCapability(ConfigRegisters.CAP_ID_MSIX, CAPABILITY_LENGTH);
            cs.set16(cap + 2, vectors - 1);
            cs.setWritableBits(cap + 2, 2, CONTROL_ENABLE | CONTROL_FUNCTION_MASK);
            cs.set32(cap + 4, (int) tableOffset | tableBar);
            cs.set32(cap + 8, (int) pbaOffset | pbaBar);
            config = cs;
            capability = cap;
            device.msixInstalled(this);
            device.interceptConfig(cap + 2, 2, new ConfigInterceptor() {
                @Override
                public int read(int offsetInRange, int size, int storedValue) {
                    return storedValue;
                }

                @Override
                public CompletableFuture<Void> written(int offsetInRange, int size, int value) {
                    return messageControlWritten();
                }
            });
            device.addResetHook(this::reset);
            log.debug("{}: MSI-X with {} vectors at config 0x{}, table BAR{}+0x{}, PBA BAR{}+0x{}", deviceId, vectors,
                    Integer.toHexString(cap), tableBar, Long.toHexString(tableOffset), pbaBar, Long.toHexString(pbaOffset));
            return cap;
        }
    }

    private void checkPlacement(PciDevice device, String what, int bar, long offset, long size) {
        if (bar < 0 || bar >= ConfigRegisters.BAR_COUNT) {
            throw new IllegalArgumentException(deviceId + ": MSI-X " + what + " BAR index must be 0..5, got " + bar);
        }
        BarDefinition definition = device.bar(bar).orElseThrow(() -> new IllegalArgumentException(
                deviceId + ": MSI-X " + what + " is in BAR" + bar + ", which the device does not define"));
        if (!definition.kind().isMemory()) {
            throw new IllegalArgumentException(deviceId + ": MSI-X " + what + " must be in a memory BAR, BAR" + bar + " is IO");
        }
        if (offset < 0 || (offset & 7) != 0 || offset > 0xFFFFFFF8L) {
            throw new IllegalArgumentException(String.format("%s: MSI-X %s offset 0x%x must be 8-byte aligned and 32-bit",
                    deviceId, what, offset));
        }
        if (offset + size > definition.size()) {
            throw new IllegalArgumentException(String.format("%s: MSI-X %s at 0x%x size 0x%x runs past BAR%d (size 0x%x)",
                    deviceId, what, offset, size, bar, definition.size()));
        }
    }

    /** Serves the vector table (offsets relative to the table). */
    public IoHandler tableHandler() {
        return tableHandler;
    }

    /** Serves the pending-bit array (offsets relative to the PBA); read-only. */
    public IoHandler pbaHandler() {
        return pbaHandler;
    }

    /** 16 bytes per vector. */
    public long tableSize() {
        return (long) vectors * ENTRY_SIZE;
    }

    /** 8 bytes per 64 vectors. */
    public long pbaSize() {
        return (vectors + 63L) / 64 * 8;
    }

    public int vectorCount() {
        return vectors;
    }

    public String deviceId() {
        return deviceId;
    }

    /** What this MSI-X did: signals by outcome, deliveries (lock-free counts, readable at any time). */
    public MsixCounters counters() {
        return counters;
    }

    /** The config-space offset of the capability, or -1 before {@link #install}. */
    public int capabilityOffset() {
        return capability;
    }

    /**
     * Signals {@code vector}; safe from any thread, takes no lock. DELIVERED: the message went to
     * the sink; PENDING: the vector (or function) is masked, the PBA bit is set and one delivery
     * will happen on unmask; DROPPED: MSI-X is disabled.
     */
    public SignalResult signal(int vector) {
        checkVector(vector);
        SignalResult result = states.signal(vector);
        counters.signalled(result);
        switch (result) {
            case DELIVERED -> {
                try {
                    counters.delivery(false);
                    sink.deliver(this, vector, messages.get(vector));
                } finally {
                    states.delivered(vector);
                }
            }
            case DROPPED -> {
                log.debug("{}: MSI-X vector {} signalled while MSI-X is disabled, dropped", deviceId, vector);
                java.util.function.IntConsumer l = droppedListener;
                if (l != null) {
                    l.accept(vector);
                }
            }
            case PENDING -> log.trace("{}: MSI-X vector {} masked, pending", deviceId, vector);
        }
        return result;
    }

    public boolean isEnabled() {
        return enabled;
    }

    public boolean isFunctionMasked() {
        return functionMasked;
    }

    /** The effective mask: vector mask bit, or function mask, or MSI-X disabled. */
    public boolean isMasked(int vector) {
        checkVector(vector);
        return (states.get(vector) & VectorStates.BLOCKED) != 0;
    }

    /** The vector control mask bit alone, as the guest programmed it. */
    public boolean isVectorMaskBitSet(int vector) {
        checkVector(vector);
        return (states.get(vector) & VectorStates.VECTOR_MASKED) != 0;
    }

    public boolean isPending(int vector) {
        checkVector(vector);
        return (states.get(vector) & VectorStates.PENDING) != 0;
    }

    /** The vector's current message. */
    public MsiMessage message(int vector) {
        checkVector(vector);
        return messages.get(vector);
    }

    /**
     * Tells {@code listener} (on the signalling thread) of every signal {@link #signal} drops
     * because MSI-X is disabled, whoever signalled (a guest notifier included), so that a
     * transport can fall back to what it does without MSI-X (virtio: the ISR). One listener.
     */
    public void onDropped(java.util.function.IntConsumer listener) {
        droppedListener = listener;
    }

    public void addObserver(MsixVectorObserver observer) {
        Objects.requireNonNull(observer, "observer");
        synchronized (lock) {
            MsixVectorObserver[] old = observers;
            MsixVectorObserver[] grown = java.util.Arrays.copyOf(old, old.length + 1);
            grown[old.length] = observer;
            observers = grown;
        }
    }

    public void removeObserver(MsixVectorObserver observer) {
        synchronized (lock) {
            MsixVectorObserver[] old = observers;
            for (int i = 0; i < old.length; i++) {
                if (old[i].equals(observer)) {
                    MsixVectorObserver[] shrunk = new MsixVectorObserver[old.length - 1];
                    System.arraycopy(old, 0, shrunk, 0, i);
                    System.arraycopy(old, i + 1, shrunk, i, old.length - i - 1);
                    observers = shrunk;
                    return;
                }
            }
        }
    }

    /**
     * Resets to the power-on state: every vector masked with a zero message, PBA clear, enable
     * and function mask cleared (also in config space once installed). Observers are told;
     * their completions are not waited for (a failure is logged).
     */
    public void reset() {
        synchronized (lock) {
            if (config != null) {
                config.set16(capability + 2, vectors - 1);
            }
            enabled = false;
            functionMasked = false;
            List<CompletableFuture<Void>> waits = new ArrayList<>();
            for (int v = 0; v < vectors; v++) {
                waits = applyChange(v, VectorStates.VECTOR_MASKED | VectorStates.DISABLED,
                        VectorStates.FUNCTION_MASKED | VectorStates.PENDING, waits);
                setMessage(v, MsiMessage.ZERO);
            }
            IoCompletion.all(waits).whenComplete((ok, failure) -> {
                if (failure != null) {
                    log.warn("{}: an MSI-X observer failed during reset: {}", deviceId, failure.toString());
                }
            });
            log.debug("{}: MSI-X reset", deviceId);
        }
    }

    // ---- guest-side operations, used by the config interceptor and the table handler ----

    private CompletableFuture<Void> messageControlWritten() {
        int control = config.get16(capability + 2);
        return setControl((control & CONTROL_ENABLE) != 0, (control & CONTROL_FUNCTION_MASK) != 0);
    }

    /** Applies a new enable / function-mask pair to every vector. */
    private CompletableFuture<Void> setControl(boolean enable, boolean mask) {
        synchronized (lock) {
            if (enable == enabled && mask == functionMasked) {
                return IoCompletion.DONE;
            }
            enabled = enable;
            functionMasked = mask;
            log.debug("{}: MSI-X {}, function {}", deviceId, enable ? "enabled" : "disabled", mask ? "masked" : "unmasked");
            int set = (enable ? 0 : VectorStates.DISABLED) | (mask ? VectorStates.FUNCTION_MASKED : 0);
            int clear = (enable ? VectorStates.DISABLED : 0) | (mask ? 0 : VectorStates.FUNCTION_MASKED);
            List<CompletableFuture<Void>> waits = new ArrayList<>();
            for (int v = 0; v < vectors; v++) {
                waits = applyChange(v, set, clear, waits);
            }
            return IoCompletion.all(waits);
        }
    }

    /** Sets or clears a vector's mask bit. */
    CompletableFuture<Void> setVectorMask(int vector, boolean masked) {
        synchronized (lock) {
            List<CompletableFuture<Void>> waits = masked ? applyChange(vector, VectorStates.VECTOR_MASKED, 0, null)
                    : applyChange(vector, 0, VectorStates.VECTOR_MASKED, null);
            return waits == null ? IoCompletion.DONE : IoCompletion.all(waits);
        }
    }

    /**
     * Applies one state change; delivers a pending interrupt and tells observers, in that order.
     * The completions observers hand back are added to {@code waits}, made only when there is one
     * (null stays null otherwise): the returned list.
     */
    private List<CompletableFuture<Void>> applyChange(int vector, int set, int clear, List<CompletableFuture<Void>> waits) {
        int result = states.change(vector, set, clear);
        if ((result & VectorStates.DELIVER_PENDING) != 0) {
            if (log.isTraceEnabled()) {
                log.trace("{}: MSI-X vector {} unmasked with pending bit, delivering", deviceId, vector);
            }
            counters.delivery(true);
            sink.deliver(this, vector, messages.get(vector));
        }
        boolean was = (result & VectorStates.WAS_BLOCKED) != 0;
        boolean now = (result & VectorStates.NOW_BLOCKED) != 0;
        if (was == now) {
            return waits;
        }
        for (MsixVectorObserver observer : observers) {   // an array: no iterator
            CompletableFuture<Void> wait = now ? observer.vectorMasked(vector) : observer.vectorUnmasked(vector);
            if (wait != IoCompletion.DONE) {
                if (waits == null) {
                    waits = new ArrayList<>(2);
                }
                waits.add(Objects.requireNonNull(wait, () -> deviceId + ": MSI-X observer returned a null completion"));
            }
        }
        return waits;
    }

    /** Replaces a vector's address bits under {@code addressMask} and/or its data, as one new immutable message. */
    void updateMessage(int vector, long addressMask, long address, boolean setData, int data) {
        synchronized (lock) {
            MsiMessage old = messages.get(vector);
            long newAddress = (old.address() & ~addressMask) | (address & addressMask);
            setMessage(vector, new MsiMessage(newAddress, setData ? data : old.data()));
        }
    }

    private void setMessage(int vector, MsiMessage message) {
        MsiMessage old = messages.getAndSet(vector, message);
        if (!old.equals(message)) {
            for (MsixVectorObserver observer : observers) {
                observer.vectorChanged(vector, message);
            }
        }
    }

    /** Bit {@code i} = pending bit of vector {@code first + i}, for up to 64 vectors. */
    long pendingBits(int first) {
        long bits = 0;
        for (int i = 0; i < 64 && first + i < vectors; i++) {
            if ((states.get(first + i) & VectorStates.PENDING) != 0) {
                bits |= 1L << i;
            }
        }
        return bits;
    }

    private void checkVector(int vector) {
        if (vector < 0 || vector >= vectors) {
            throw new IllegalArgumentException(deviceId + ": MSI-X vector " + vector + " out of range 0.." + (vectors - 1));
        }
    }
}
