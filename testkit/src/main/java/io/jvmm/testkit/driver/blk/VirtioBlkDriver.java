package io.jvmm.testkit.driver.blk;

import io.jvmm.pci.mem.GuestMemory;
import io.jvmm.testkit.driver.GuestDriverException;
import io.jvmm.testkit.driver.PageAllocator;
import io.jvmm.testkit.driver.virtio.Chain;
import io.jvmm.testkit.driver.virtio.DeviceResetException;
import io.jvmm.testkit.driver.virtio.QueueSetup;
import io.jvmm.testkit.driver.virtio.SplitQueue;
import io.jvmm.testkit.driver.virtio.UsedBuffer;
import io.jvmm.testkit.driver.virtio.VirtioFeatureBits;
import io.jvmm.testkit.driver.virtio.VirtioPciDriver;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;

import static io.jvmm.testkit.driver.blk.BlkProtocol.*;

/**
 * The guest's virtio-blk driver (virtio 1.x, 5.2) on queue 0: read and write sectors, flush,
 * GET_ID, discard and write-zeroes. Submission is asynchronous: each request returns a future,
 * many may be in flight, and they complete as the driver collects used buffers (waiting by
 * interrupt) in {@link #processCompletions} or {@link #await}. Not thread-safe: one guest thread.
 *
 * <p>Each request gets one page for its header (offset 0), status byte (16), discard/write-zeroes
 * range (32) and GET_ID buffer (64), and data pages split into descriptors of at most
 * {@link #segmentBytes()} (and the device's size_max and seg_max).
 */
public final class VirtioBlkDriver {
    private static final Logger log = LoggerFactory.getLogger(VirtioBlkDriver.class);

    /** Everything this driver can use; only what the device offers is negotiated. */
    public static final long WANTED_FEATURES = F_SIZE_MAX | F_SEG_MAX | F_RO | F_BLK_SIZE | F_FLUSH | F_DISCARD
            | F_WRITE_ZEROES | VirtioFeatureBits.RING_INDIRECT_DESC | VirtioFeatureBits.RING_EVENT_IDX;
    static final int STATUS_OFFSET = 16;
    static final int RANGE_OFFSET = 32;
    static final int ID_OFFSET = 64;

    private final VirtioPciDriver device;
    private final GuestMemory memory;
    private final PageAllocator pages;
    private SplitQueue queue;          // where requests go: one of queues
    private List<SplitQueue> queues = List.of();
    private BlkConfig config;
    private int segmentBytes = 64 * 1024;
    private boolean useIndirect = true;

    /** One request the device holds: its pages and the future to complete. */
    private static final class Request {
        final int type;
        final long sector;
        final long page;
        final long data;
        final int dataBytes;
        final CompletableFuture<BlkResponse> future = new CompletableFuture<>();

        Request(int type, long sector, long page, long data, int dataBytes) {
            this.type = type;
            this.sector = sector;
            this.page = page;
            this.data = data;
            this.dataBytes = dataBytes;
        }
    }

    public VirtioBlkDriver(VirtioPciDriver device) {
        this.device = Objects.requireNonNull(device, "device");
        if (device.deviceType() != 2) {
            throw new GuestDriverException(device + " is not a block device");
        }
        this.memory = device.guest().cpu().memory();
        this.pages = device.guest().pages();
    }

    public VirtioPciDriver device() {
        return device;
    }

    /** Initialises the device with the largest queue it offers. */
    public VirtioBlkDriver initialize() {
        return initialize(WANTED_FEATURES, QueueSetup.deviceMax());
    }

    /** Initialises with these features (masked by the offer) and queue set-up; reads the configuration. */
    public VirtioBlkDriver initialize(long features, QueueSetup setup) {
        return initialize(features, setup, 1);
    }

    /**
     * Initialises {@code count} request queues alike (more than one needs VIRTIO_BLK_F_MQ in
     * {@code features}); requests go to queue 0 until {@link #useQueue} picks another.
     */
    public VirtioBlkDriver initialize(long features, QueueSetup setup, int count) {
        if (queue != null) {
            reset();   // fail the requests of the previous initialisation rather than forget them
        }
        queues = device.initialize(features, Collections.nCopies(count, setup));
        queue = queues.get(0);
        config = readConfig();
        log.debug("{}: {} sectors, {}", device, config.capacitySectors(), queue);
        return this;
    }

    /** Reads struct virtio_blk_config with the generation check. */
    public BlkConfig readConfig() {
        return device.readConfigConsistently(() -> new BlkConfig(
                device.readConfig64(CFG_CAPACITY),
                device.readConfig32(CFG_SIZE_MAX),
                device.readConfig32(CFG_SEG_MAX),
                device.readConfig32(CFG_BLK_SIZE),
                device.readConfig32(CFG_MAX_DISCARD_SECTORS),
                device.readConfig32(CFG_MAX_DISCARD_SEG),
                device.readConfig32(CFG_DISCARD_SECTOR_ALIGNMENT),
                device.readConfig32(CFG_MAX_WRITE_ZEROES_SECTORS),
                device.readConfig32(CFG_MAX_WRITE_ZEROES_SEG),
                device.readConfig8(CFG_WRITE_ZEROES_MAY_UNMAP) != 0));
    }

    /** The configuration read at initialisation. */
    public BlkConfig config() {
        checkInitialized();
        return config;
    }

    public SplitQueue queue() {
        checkInitialized();
        return queue;
    }

    /** Sends the next requests (and waits for completions) on request queue {@code index}. */
    public VirtioBlkDriver useQueue(int index) {
        checkInitialized();
        queue = queues.get(index);
        return this;
    }

    public boolean readOnly() {
        return VirtioFeatureBits.has(device.negotiatedFeatures(), F_RO);
    }

    public int segmentBytes() {
        return segmentBytes;
    }

    /** Largest data descriptor; smaller values make longer chains. */
    public void setSegmentBytes(int bytes) {
        if (bytes < SECTOR || bytes % SECTOR != 0) {
            throw new IllegalArgumentException("segment size " + bytes + " must be a positive multiple of " + SECTOR);
        }
        this.segmentBytes = bytes;
    }

    /** Whether chains of more than one descriptor go into an indirect table (when negotiated). */
    public void setUseIndirect(boolean useIndirect) {
        this.useIndirect = useIndirect;
    }

    public int inFlight() {
        return queue == null ? 0 : queue.inFlight();
    }

    // ---- submission ------------------------------------------------------------------------------

    /** Reads {@code bytes} (a multiple of 512) from {@code sector}. */
    public CompletableFuture<BlkResponse> submitRead(long sector, int bytes) {
        checkData(bytes);
        long data = pages.allocate(bytes);
        return submit(new Request(T_IN, sector, pages.allocate(PageAllocator.PAGE), data, bytes), true);
    }

    /** Writes {@code data} (a multiple of 512 bytes) at {@code sector}. */
    public CompletableFuture<BlkResponse> submitWrite(long sector, byte[] data) {
        checkData(data.length);
        long buffer = pages.allocate(data.length);
        memory.write(buffer, data, 0, data.length);
        return submit(new Request(T_OUT, sector, pages.allocate(PageAllocator.PAGE), buffer, data.length), false);
    }

    public CompletableFuture<BlkResponse> submitFlush() {
        return submit(new Request(T_FLUSH, 0, pages.allocate(PageAllocator.PAGE), 0, 0), false);
    }

    /** GET_ID: the device writes up to 20 bytes of serial number. */
    public CompletableFuture<BlkResponse> submitGetId() {
        long page = pages.allocate(PageAllocator.PAGE);
        return submit(new Request(T_GET_ID, 0, page, page + ID_OFFSET, ID_BYTES), true);
    }

    public CompletableFuture<BlkResponse> submitDiscard(long sector, int sectors, int flags) {
        return submitRange(T_DISCARD, sector, sectors, flags);
    }

    public CompletableFuture<BlkResponse> submitWriteZeroes(long sector, int sectors, boolean unmap) {
        return submitRange(T_WRITE_ZEROES, sector, sectors, unmap ? RANGE_F_UNMAP : 0);
    }

    private CompletableFuture<BlkResponse> submitRange(int type, long sector, int sectors, int flags) {
        long page = pages.allocate(PageAllocator.PAGE);
        memory.write64(page + RANGE_OFFSET, sector);
        memory.write32(page + RANGE_OFFSET + 8, sectors);
        memory.write32(page + RANGE_OFFSET + 12, flags);
        return submit(new Request(type, sector, page, 0, 0), false);
    }

    private void checkData(int bytes) {
        if (bytes <= 0 || bytes % SECTOR != 0) {
            throw new IllegalArgumentException(device + ": transfer of " + bytes + " bytes must be a positive multiple of " + SECTOR);
        }
    }

    /** Builds the chain: header, [range], [data], status; adds it (waiting for room) and kicks. */
    private CompletableFuture<BlkResponse> submit(Request r, boolean deviceWritesData) {
        checkInitialized();
        memory.write32(r.page, r.type);
        memory.write32(r.page + 4, 0);
        memory.write64(r.page + 8, r.sector);
        memory.write8(r.page + STATUS_OFFSET, 0xFF);   // not a valid status: shows whether the device wrote it
        Chain chain = Chain.create().readable(r.page, HEADER_BYTES);
        if (r.type == T_DISCARD || r.type == T_WRITE_ZEROES) {
            chain.readable(r.page + RANGE_OFFSET, RANGE_BYTES);
        }
        int maxSegment = Math.min(segmentBytes, config.sizeMax() > 0 ? config.sizeMax() : Integer.MAX_VALUE);
        int dataSegments = 0;
        for (int off = 0; off < r.dataBytes; off += maxSegment) {
            int len = Math.min(maxSegment, r.dataBytes - off);
            if (deviceWritesData) {
                chain.writable(r.data + off, len);
            } else {
                chain.readable(r.data + off, len);
            }
            dataSegments++;
        }
        if (config.segMax() > 0 && dataSegments > config.segMax()) {
            release(r);
            throw new IllegalArgumentException(String.format("%s: %d data segments exceed seg_max %d; use larger segments",
                    device, dataSegments, config.segMax()));
        }
        chain.writable(r.page + STATUS_OFFSET, 1);
        chain.indirect(useIndirect && chain.size() > 1);
        if (queue.descriptorsNeeded(chain) > queue.size()) {
            release(r);
            throw new IllegalArgumentException(device + ": a chain of " + chain.size() + " descriptors cannot fit a queue of " + queue.size());
        }
        while (!queue.canAdd(chain)) {
            processCompletions(device.timeout());
        }
        queue.add(chain, r);
        queue.kick();
        return r.future;
    }

    // ---- completion --------------------------------------------------------------------------

    /**
     * Waits (by interrupt) for at least one used buffer and completes the requests returned.
     *
     * @return how many completed
     */
    public int processCompletions(Duration timeout) {
        checkInitialized();
        return complete(queue.awaitUsed(timeout));
    }

    /** Completes whatever the device has returned, without waiting. */
    public int pollCompletions() {
        checkInitialized();
        return complete(queue.takeUsed());
    }

    private int complete(List<UsedBuffer> used) {
        for (UsedBuffer u : used) {
            if (!(u.token() instanceof Request r)) {
                throw new GuestDriverException(device + ": used buffer " + u + " belongs to a chain this driver did not make");
            }
            int status = memory.read8(r.page + STATUS_OFFSET);
            byte[] data = new byte[0];
            if ((r.type == T_IN || r.type == T_GET_ID) && status == S_OK) {
                data = new byte[r.dataBytes];
                memory.read(r.data, data, 0, data.length);
            }
            release(r);
            r.future.complete(new BlkResponse(r.type, r.sector, status, data, u.length()));
        }
        return used.size();
    }

    private void release(Request r) {
        if (r.data != 0 && r.type != T_GET_ID) {
            pages.free(r.data);
        }
        pages.free(r.page);
    }

    /** Drives completions until {@code future} is done; returns its response. */
    public BlkResponse await(CompletableFuture<BlkResponse> future) {
        while (!future.isDone()) {
            processCompletions(device.timeout());
        }
        try {
            return future.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new GuestDriverException("interrupted waiting for " + device);
        } catch (ExecutionException e) {
            throw new GuestDriverException(device + ": request failed: " + e.getCause().getMessage(), e.getCause());
        }
    }

    /** Drives completions until every future is done. */
    public List<BlkResponse> awaitAll(Collection<CompletableFuture<BlkResponse>> futures) {
        List<BlkResponse> out = new ArrayList<>();
        for (CompletableFuture<BlkResponse> f : futures) {
            out.add(await(f));
        }
        return out;
    }

    // ---- synchronous conveniences --------------------------------------------------------------

    public BlkResponse read(long sector, int bytes) {
        return await(submitRead(sector, bytes));
    }

    public BlkResponse write(long sector, byte[] data) {
        return await(submitWrite(sector, data));
    }

    public BlkResponse flush() {
        return await(submitFlush());
    }

    /** The serial number: GET_ID's bytes up to the first NUL. */
    public String id() {
        BlkResponse r = await(submitGetId());
        if (!r.ok()) {
            throw new GuestDriverException(device + ": GET_ID failed with " + statusName(r.status()));
        }
        int n = 0;
        while (n < r.data().length && r.data()[n] != 0) {
            n++;
        }
        return new String(r.data(), 0, n, StandardCharsets.US_ASCII);
    }

    // ---- reset -----------------------------------------------------------------------------------

    /**
     * Resets the device (waiting until status reads 0) and fails every request still in flight
     * with {@link DeviceResetException}; their pages are freed, the device no longer touching them.
     *
     * @return how many of this driver's requests were abandoned
     */
    public int reset() {
        device.beginReset();
        return completeReset();
    }

    /**
     * The second half of {@link #reset()}, after something already wrote 0 to device_status:
     * waits for the reset to complete, then fails the requests left in flight.
     */
    public int completeReset() {
        List<Object> abandoned = device.awaitResetComplete();
        queue = null;
        queues = List.of();
        int requests = 0;
        for (Object token : abandoned) {
            if (token instanceof Request r) {   // chains a test added by hand carry other tokens
                release(r);
                r.future.completeExceptionally(new DeviceResetException(device + ": reset with the request in flight"));
                requests++;
            }
        }
        return requests;
    }

    private void checkInitialized() {
        if (queue == null) {
            throw new IllegalStateException(device + ": the block driver is not initialised (or was reset)");
        }
    }

    @Override
    public String toString() {
        return "virtio-blk driver for " + device;
    }
}
