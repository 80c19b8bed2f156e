package io.jvmm.testkit.driver.virtio;

import io.jvmm.pci.msix.MsiMessage;
import io.jvmm.testkit.driver.DriverTimeoutException;
import io.jvmm.testkit.driver.Guest;
import io.jvmm.testkit.driver.GuestDriverException;
import io.jvmm.testkit.driver.Poll;
import io.jvmm.testkit.driver.pci.MsixDriver;
import io.jvmm.testkit.driver.pci.PciFunction;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.function.Supplier;

import static io.jvmm.testkit.driver.virtio.VirtioCommonConfig.*;
import static io.jvmm.testkit.driver.virtio.VirtioStatus.*;

/**
 * The guest's virtio-pci (modern) core for one device: probes the function (BARs, bus
 * mastering, MSI-X with config vector 0 and queue i on vector i+1), then runs the
 * initialisation sequence of virtio 1.x 3.1.1, owns the queues it set up, resets, and reads
 * device configuration consistently using config_generation. Device drivers (blk, rng) sit on
 * top. Not thread-safe: one guest thread drives a device.
 */
public final class VirtioPciDriver {
    private static final Logger log = LoggerFactory.getLogger(VirtioPciDriver.class);

    public static final int VENDOR_ID = 0x1AF4;
    /** Modern device ids are 0x1040 + the virtio device type. */
    public static final int MODERN_DEVICE_ID_BASE = 0x1040;
    public static final int CONFIG_VECTOR = 0;
    private static final int MAX_GENERATION_RETRIES = 1000;

    private final Guest guest;
    private final PciFunction fn;
    private final VirtioPciLayout layout;
    private final VirtioCommonConfig common;
    private final MsixDriver msix;
    private final List<MsiMessage> messages;
    private final String name;
    private Duration timeout = Duration.ofSeconds(10);

    private long negotiated;
    private List<SplitQueue> queues = List.of();
    private final List<Long> ringMemory = new ArrayList<>();

    private VirtioPciDriver(Guest guest, PciFunction fn) {
        this.guest = guest;
        this.fn = fn;
        this.name = String.format("virtio type %d at %s", fn.deviceId() - MODERN_DEVICE_ID_BASE, fn.address());
        this.layout = new VirtioPciLayout(fn);
        this.common = new VirtioCommonConfig(guest.cpu(), layout.common().address());
        this.msix = new MsixDriver(guest.cpu(), fn);
        List<MsiMessage> list = new ArrayList<>();
        for (int v = 0; v < msix.vectorCount(); v++) {
            list.add(guest.interrupts().allocateMessage());
        }
        this.messages = Collections.unmodifiableList(list);
        msix.enable(messages);
    }

    /** Whether {@code fn} is a modern virtio-pci device. */
    public static boolean isVirtio(PciFunction fn) {
        return fn.vendorId() == VENDOR_ID && fn.deviceId() >= MODERN_DEVICE_ID_BASE && fn.deviceId() <= 0x107F;
    }

    /**
     * Takes over {@code fn}: assigns its BARs, turns on decoding and bus mastering, parses the
     * virtio capabilities and enables MSI-X with one message per vector.
     *
     * @throws GuestDriverException if it is not a modern virtio device or its capabilities are bad
     */
    /**
     * Enumerates the guest's bus and probes the first modern virtio function of {@code deviceType}
     * (its BARs placed, MSI-X not yet enabled).
     *
     * @throws GuestDriverException if there is none, naming what the bus holds
     */
    public static VirtioPciDriver probeFirst(Guest guest, int deviceType) {
        java.util.List<PciFunction> functions = guest.enumerate();
        PciFunction fn = functions.stream()
                .filter(f -> isVirtio(f) && f.deviceId() == MODERN_DEVICE_ID_BASE + deviceType)
                .findFirst().orElseThrow(() -> new GuestDriverException("no virtio device of type " + deviceType + " on the bus: " + functions));
        return probe(guest, fn);
    }

    public static VirtioPciDriver probe(Guest guest, PciFunction fn) {
        if (!isVirtio(fn)) {
            throw new GuestDriverException(fn + " is not a modern virtio-pci device");
        }
        guest.bars().assign(fn);
        VirtioPciDriver driver = new VirtioPciDriver(guest, fn);
        log.debug("{}: probed, {} MSI-X vectors, {} queues", driver.name, driver.msix.vectorCount(), driver.numQueues());
        return driver;
    }

    public Guest guest() {
        return guest;
    }

    public PciFunction function() {
        return fn;
    }

    public VirtioPciLayout layout() {
        return layout;
    }

    public MsixDriver msix() {
        return msix;
    }

    public String name() {
        return name;
    }

    /** The virtio device type (2 = block, 4 = entropy, ...). */
    public int deviceType() {
        return fn.deviceId() - MODERN_DEVICE_ID_BASE;
    }

    /** How long waits (reset, interrupts) last before a {@link DriverTimeoutException}. */
    public Duration timeout() {
        return timeout;
    }

    public void setTimeout(Duration timeout) {
        this.timeout = timeout;
    }

    // ---- registers -------------------------------------------------------------------------

    public int status() {
        return common.read8(DEVICE_STATUS);
    }

    public void writeStatus(int status) {
        common.write8(DEVICE_STATUS, status);
    }

    /** Adds bits to the status, as each step of initialisation does. */
    private void addStatus(int bits) {
        writeStatus(status() | bits);
    }

    public boolean needsReset() {
        return (status() & DEVICE_NEEDS_RESET) != 0;
    }

    /** The 64 feature bits the device offers (device_feature with select 0 and 1). */
    public long deviceFeatures() {
        common.write32(DEVICE_FEATURE_SELECT, 0);
        long low = common.read32(DEVICE_FEATURE) & 0xFFFF_FFFFL;
        common.write32(DEVICE_FEATURE_SELECT, 1);
        long high = common.read32(DEVICE_FEATURE) & 0xFFFF_FFFFL;
        return high << 32 | low;
    }

    public void writeDriverFeatures(long features) {
        common.write32(DRIVER_FEATURE_SELECT, 0);
        common.write32(DRIVER_FEATURE, (int) features);
        common.write32(DRIVER_FEATURE_SELECT, 1);
        common.write32(DRIVER_FEATURE, (int) (features >>> 32));
    }

    public int numQueues() {
        return common.read16(NUM_QUEUES);
    }

    public int configGeneration() {
        return common.read8(CONFIG_GENERATION);
    }

    /** The features accepted at the last initialisation. */
    public long negotiatedFeatures() {
        return negotiated;
    }

    /** The MSI the device sends on the configuration vector (DEVICE_NEEDS_RESET, config change). */
    public MsiMessage configMessage() {
        return messages.get(CONFIG_VECTOR);
    }

    /** The MSI for queue {@code q}'s vector. */
    public MsiMessage queueMessage(int q) {
        return messages.get(queueVector(q));
    }

    /** Queue {@code q} uses MSI-X vector q + 1. */
    public int queueVector(int q) {
        if (q < 0 || q + 1 >= messages.size()) {
            throw new IllegalArgumentException(name + ": no MSI-X vector for queue " + q + " (" + messages.size() + " vectors)");
        }
        return q + 1;
    }

    /** Deliveries of the configuration interrupt so far. */
    public long configInterrupts() {
        return guest.interrupts().count(configMessage());
    }

    /** Waits for a configuration interrupt after {@code seen} deliveries; false on timeout. */
    public boolean awaitConfigInterrupt(long seen, Duration wait) {
        return guest.interrupts().awaitMoreThan(configMessage(), seen, wait);
    }

    // ---- reset and initialisation ------------------------------------------------------------

    /**
     * Starts a reset (writes 0 to device_status) without waiting; the queues are unusable from
     * here on. Use {@link #awaitResetComplete()} before touching the device again.
     */
    public void beginReset() {
        writeStatus(0);
    }

    /**
     * Polls device_status until it reads 0: the device has finished its reset and no longer
     * touches the rings or buffers. Then forgets the queues and frees their rings.
     *
     * @return the chains' tokens that were in flight and never completed
     */
    public List<Object> awaitResetComplete() {
        Poll.until(() -> status() == 0, timeout, () -> name + " to finish its reset (device_status reads "
                + VirtioStatus.describe(status()) + ")");
        List<Object> abandoned = new ArrayList<>();
        for (SplitQueue q : queues) {
            abandoned.addAll(q.abandon());
        }
        queues = List.of();
        for (long address : ringMemory) {
            guest.pages().free(address);
        }
        ringMemory.clear();
        negotiated = 0;
        return abandoned;
    }

    /** Reset and wait for it to complete (virtio 1.x 4.1.4.3.2: poll until status reads 0). */
    public List<Object> reset() {
        beginReset();
        return awaitResetComplete();
    }

    /**
     * The initialisation sequence of virtio 1.x 3.1.1: reset, ACKNOWLEDGE, DRIVER, feature
     * negotiation (VERSION_1 required) with FEATURES_OK read back, the configuration vector, each
     * queue (size, vector read back, ring addresses, enable), then DRIVER_OK.
     *
     * @param wantedFeatures features the driver would use; only those the device offers are taken
     * @param setups one entry per queue to set up, from queue 0
     * @return the queues, in order
     * @throws GuestDriverException if the device refuses the features, lacks a queue or a
     *     vector; the device is then left with FAILED set
     */
    public List<SplitQueue> initialize(long wantedFeatures, List<QueueSetup> setups) {
        reset();
        writeStatus(ACKNOWLEDGE);
        addStatus(DRIVER);
        long offered = deviceFeatures();
        if (!VirtioFeatureBits.has(offered, VirtioFeatureBits.VERSION_1)) {
            throw fail("the device does not offer VERSION_1 (features 0x" + Long.toHexString(offered) + ")");
        }
        long features = (wantedFeatures & offered) | VirtioFeatureBits.VERSION_1;
        writeDriverFeatures(features);
        addStatus(FEATURES_OK);
        if ((status() & FEATURES_OK) == 0) {
            throw fail("the device refused features 0x" + Long.toHexString(features) + " (FEATURES_OK did not stick)");
        }
        negotiated = features;

        common.write16(CONFIG_MSIX_VECTOR, CONFIG_VECTOR);
        int readBack = common.read16(CONFIG_MSIX_VECTOR);
        if (readBack != CONFIG_VECTOR) {
            throw fail("config_msix_vector " + CONFIG_VECTOR + " reads back 0x" + Integer.toHexString(readBack));
        }
        int available = numQueues();
        if (setups.size() > available) {
            throw fail(setups.size() + " queues wanted, the device has " + available);
        }
        List<SplitQueue> set = new ArrayList<>();
        for (int q = 0; q < setups.size(); q++) {
            set.add(setUpQueue(q, setups.get(q), features));
        }
        queues = List.copyOf(set);
        addStatus(DRIVER_OK);
        log.debug("{}: initialised, features 0x{}, status {}", name, Long.toHexString(features), VirtioStatus.describe(status()));
        return queues;
    }

    private SplitQueue setUpQueue(int q, QueueSetup setup, long features) {
        common.write16(QUEUE_SELECT, q);
        int max = common.read16(QUEUE_SIZE);
        if (max == 0) {
            throw fail("queue " + q + " is not available (queue_size reads 0)");
        }
        int size = setup.resolve(max, name, q);
        common.write16(QUEUE_SIZE, size);

        int vector = queueVector(q);
        common.write16(QUEUE_MSIX_VECTOR, vector);
        int vectorBack = common.read16(QUEUE_MSIX_VECTOR);
        if (vectorBack != vector) {
            throw fail("queue " + q + " MSI-X vector " + vector + " reads back 0x" + Integer.toHexString(vectorBack));
        }

        long bytes = RingLayout.bytesFor(size);
        long base = guest.pages().allocateZeroed(guest.cpu(), bytes);
        ringMemory.add(base);
        RingLayout ring = RingLayout.of(size, base);
        common.write64(QUEUE_DESC, ring.desc());
        common.write64(QUEUE_DRIVER, ring.avail());
        common.write64(QUEUE_DEVICE, ring.used());
        int notifyOff = common.read16(QUEUE_NOTIFY_OFF);
        long notifyAddress = layout.notifyAddress(notifyOff, name + " queue " + q);
        common.write16(QUEUE_ENABLE, 1);
        return new SplitQueue(guest.cpu(), guest.pages(), guest.interrupts(), name, q, ring, notifyAddress,
                messages.get(vector), VirtioFeatureBits.has(features, VirtioFeatureBits.RING_EVENT_IDX),
                VirtioFeatureBits.has(features, VirtioFeatureBits.RING_INDIRECT_DESC));
    }

    private GuestDriverException fail(String why) {
        writeStatus(status() | FAILED);
        return new GuestDriverException(name + ": " + why);
    }

    /** The queues set up by the last initialisation. */
    public List<SplitQueue> queues() {
        return queues;
    }

    public SplitQueue queue(int q) {
        if (q < 0 || q >= queues.size()) {
            throw new IllegalArgumentException(name + ": queue " + q + " is not set up (" + queues.size() + " queues)");
        }
        return queues.get(q);
    }

    /** queue_enable of queue {@code q} as the device reports it. */
    public boolean queueEnabled(int q) {
        common.write16(QUEUE_SELECT, q);
        return common.read16(QUEUE_ENABLE) == 1;
    }

    // ---- device configuration ------------------------------------------------------------------

    public int readConfig8(int offset) {
        return (int) guest.cpu().readMmio(configAddress(offset, 1), 1);
    }

    public int readConfig16(int offset) {
        return (int) guest.cpu().readMmio(configAddress(offset, 2), 2);
    }

    public int readConfig32(int offset) {
        return (int) guest.cpu().readMmio(configAddress(offset, 4), 4);
    }

    /** A 64-bit field read as two dwords; only consistent inside {@link #readConfigConsistently}. */
    public long readConfig64(int offset) {
        long low = readConfig32(offset) & 0xFFFF_FFFFL;
        return (readConfig32(offset + 4) & 0xFFFF_FFFFL) << 32 | low;
    }

    private long configAddress(int offset, int size) {
        VirtioPciLayout.Region device = layout.device();
        if (device == null) {
            throw new GuestDriverException(name + ": the device has no configuration space");
        }
        if (offset < 0 || offset + size > device.length() || offset % size != 0) {
            throw new IllegalArgumentException(String.format("%s: config read of %d bytes at %d outside the %d-byte configuration (or misaligned)",
                    name, size, offset, device.length()));
        }
        return device.address() + offset;
    }

    /**
     * Runs {@code reads} until config_generation is the same before and after (virtio 1.x
     * 4.1.4.3.1), so a multi-field or 64-bit value is never torn by a concurrent change.
     */
    public <T> T readConfigConsistently(Supplier<T> reads) {
        for (int attempt = 0; attempt < MAX_GENERATION_RETRIES; attempt++) {
            int before = configGeneration();
            T value = reads.get();
            if (configGeneration() == before) {
                return value;
            }
        }
        throw new GuestDriverException(name + ": config_generation kept changing over " + MAX_GENERATION_RETRIES + " reads");
    }

    @Override
    public String toString() {
        return name;
    }
}
