package io.jvmm.testkit.driver.fs;

import io.jvmm.pci.mem.GuestMemory;
import io.jvmm.testkit.driver.DriverTimeoutException;
import io.jvmm.testkit.driver.GuestDriverException;
import io.jvmm.testkit.driver.PageAllocator;
import io.jvmm.testkit.driver.virtio.Chain;
import io.jvmm.testkit.driver.virtio.DeviceResetException;
import io.jvmm.testkit.driver.virtio.QueueSetup;
import io.jvmm.testkit.driver.virtio.SplitQueue;
import io.jvmm.testkit.driver.virtio.UsedBuffer;
import io.jvmm.testkit.driver.virtio.VirtioFeatureBits;
import io.jvmm.testkit.driver.virtio.VirtioPciDriver;
import io.jvmm.testkit.driver.virtio.VirtioPciLayout;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;

import static io.jvmm.testkit.driver.fs.FsProtocol.*;

/**
 * The guest's virtio-fs transport driver (virtio 1.2, 5.11): the high-priority queue 0 and
 * request queues 1..n. It carries opaque requests ({@link FsRequest}: readable parts, then
 * writable parts) and knows nothing of FUSE, which {@link FuseClient} speaks on top.
 *
 * <p>Submission is asynchronous: each request returns a future, many may be in flight on several
 * queues, and they complete as the driver collects used buffers (waiting by the queue's MSI-X
 * interrupt) in {@link #processCompletions} or {@link #await}. A reset fails every request in
 * flight with {@link DeviceResetException}. Not thread-safe: one guest thread drives it.
 *
 * <p>Each request gets one allocation for its readable parts and one for its writable parts,
 * each part split into descriptors of at most {@link #segmentBytes()}.
 */
public final class VirtioFsDriver {
    private static final Logger log = LoggerFactory.getLogger(VirtioFsDriver.class);

    /** Indirect descriptors keep long chains to one ring slot; EVENT_IDX saves notifications. */
    public static final long WANTED_FEATURES = VirtioFeatureBits.RING_INDIRECT_DESC | VirtioFeatureBits.RING_EVENT_IDX;
    /** How often a wait for completions looks at device_status. */
    static final Duration STATUS_CHECK = Duration.ofMillis(50);

    private final VirtioPciDriver device;
    private final GuestMemory memory;
    private final PageAllocator pages;
    private List<SplitQueue> queues;   // virtqueue index -> queue; null before initialisation and after reset
    private FsConfig config;
    private int nextRequestQueue;
    private int segmentBytes = 64 * 1024;
    private boolean useIndirect = true;
    private long initializations;
    /** Requests the device holds, oldest first: waiting follows the oldest one's queue. */
    private final Set<Request> inFlight = new LinkedHashSet<>();

    /** One request the device holds: its guest memory and the future to complete. */
    private static final class Request {
        final int queue;
        final long readable;
        final long writable;   // 0 when the request has no writable part
        final int capacity;
        final CompletableFuture<FsResponse> future = new CompletableFuture<>();

        Request(int queue, long readable, long writable, int capacity) {
            this.queue = queue;
            this.readable = readable;
            this.writable = writable;
            this.capacity = capacity;
        }
    }

    public VirtioFsDriver(VirtioPciDriver device) {
        this.device = Objects.requireNonNull(device, "device");
        if (device.deviceType() != DEVICE_TYPE) {
            throw new GuestDriverException(device + " is not a file-system device (virtio type " + DEVICE_TYPE + ")");
        }
        this.memory = device.guest().cpu().memory();
        this.pages = device.guest().pages();
    }

    public VirtioPciDriver device() {
        return device;
    }

    /** Initialises with every request queue the device offers, each as large as it allows. */
    public VirtioFsDriver initialize() {
        return initialize(Integer.MAX_VALUE, QueueSetup.deviceMax());
    }

    /**
     * Resets the device (failing what was in flight), reads its configuration, and initialises
     * the high-priority queue and {@code min(requestQueues, num_request_queues)} request queues.
     *
     * @throws GuestDriverException if the device offers no request queue or refuses the set-up
     */
    public VirtioFsDriver initialize(int requestQueues, QueueSetup setup) {
        if (requestQueues < 1) {
            throw new IllegalArgumentException(device + ": at least one request queue is needed, asked for " + requestQueues);
        }
        if (queues != null) {
            reset();   // fail the requests of the previous initialisation rather than forget them
        }
        FsConfig read = readConfig();
        if (read.numRequestQueues() < 1) {
            throw new GuestDriverException(device + ": num_request_queues is " + read.numRequestQueues()
                    + ": the device offers no request queue");
        }
        int n = Math.min(requestQueues, read.numRequestQueues());
        queues = device.initialize(WANTED_FEATURES, Collections.nCopies(FIRST_REQUEST_QUEUE + n, setup));
        config = read;
        nextRequestQueue = 0;
        initializations++;
        log.debug("{}: tag '{}', {} of {} request queues, {}", device, read.tag(), n, read.numRequestQueues(), queues.get(FIRST_REQUEST_QUEUE));
        return this;
    }

    /**
     * Reads struct virtio_fs_config under the generation check. The configuration may be read
     * before initialisation (the driver needs num_request_queues to know how many queues to set up).
     */
    public FsConfig readConfig() {
        VirtioPciLayout.Region region = device.layout().device();
        long length = region == null ? 0 : region.length();
        if (length < CFG_BYTES_WITHOUT_NOTIFY) {
            throw new GuestDriverException(String.format("%s: device configuration of %d bytes is shorter than virtio_fs_config (%d)",
                    device, length, CFG_BYTES_WITHOUT_NOTIFY));
        }
        boolean hasNotify = length >= CFG_NOTIFY_BUF_SIZE + 4;
        return device.readConfigConsistently(() -> {
            byte[] tag = new byte[TAG_BYTES];
            for (int i = 0; i < TAG_BYTES; i += 4) {
                int word = device.readConfig32(CFG_TAG + i);
                for (int b = 0; b < 4; b++) {
                    tag[i + b] = (byte) (word >>> (8 * b));
                }
            }
            return new FsConfig(FsConfig.decodeTag(tag), device.readConfig32(CFG_NUM_REQUEST_QUEUES),
                    hasNotify ? device.readConfig32(CFG_NOTIFY_BUF_SIZE) : 0);
        });
    }

    /** The configuration read at initialisation. */
    public FsConfig config() {
        checkInitialized();
        return config;
    }

    /** Request queues set up (virtqueues 1..n). */
    public int requestQueueCount() {
        checkInitialized();
        return queues.size() - FIRST_REQUEST_QUEUE;
    }

    /** Virtqueue {@code index}: 0 is the high-priority queue, 1..n the request queues. */
    public SplitQueue queue(int index) {
        checkInitialized();
        if (index < 0 || index >= queues.size()) {
            throw new IllegalArgumentException(device + ": no virtqueue " + index + " (" + queues.size() + " set up)");
        }
        return queues.get(index);
    }

    /** How many times the device was initialised: a FUSE session belongs to one initialisation. */
    public long initializations() {
        return initializations;
    }

    public boolean initialized() {
        return queues != null;
    }

    public int segmentBytes() {
        return segmentBytes;
    }

    /** Largest descriptor for one part; smaller values make longer chains. */
    public void setSegmentBytes(int bytes) {
        if (bytes < 64) {
            throw new IllegalArgumentException("segment size " + bytes + " is below 64 bytes");
        }
        this.segmentBytes = bytes;
    }

    /** Whether chains of more than one descriptor go into an indirect table (when negotiated). */
    public void setUseIndirect(boolean useIndirect) {
        this.useIndirect = useIndirect;
    }

    public int inFlight() {
        return inFlight.size();
    }

    // ---- submission ------------------------------------------------------------------------------

    /** Submits on the next request queue, round robin. */
    public CompletableFuture<FsResponse> submit(FsRequest request) {
        checkInitialized();
        int q = FIRST_REQUEST_QUEUE + nextRequestQueue;
        nextRequestQueue = (nextRequestQueue + 1) % requestQueueCount();
        return submit(q, request);
    }

    /** Submits on the high-priority queue (FUSE FORGET and INTERRUPT go there). */
    public CompletableFuture<FsResponse> submitHighPriority(FsRequest request) {
        return submit(HIPRIO_QUEUE, request);
    }

    /**
     * Copies the parts into guest memory, adds the chain to virtqueue {@code queueIndex} (waiting
     * for room if the queue is full) and notifies the device if it wants to hear.
     *
     * @throws IllegalArgumentException if the chain could never fit the queue
     */
    public CompletableFuture<FsResponse> submit(int queueIndex, FsRequest request) {
        SplitQueue queue = queue(queueIndex);
        int readableBytes = request.readableBytes();
        int capacity = request.writableBytes();
        long readable = pages.allocate(readableBytes);
        long writable = 0;
        try {
            writable = capacity > 0 ? pages.allocate(capacity) : 0;
        } catch (RuntimeException e) {
            pages.free(readable);
            throw e;
        }
        Request r = new Request(queueIndex, readable, writable, capacity);
        Chain chain = Chain.create();
        long at = readable;
        for (byte[] part : request.readable()) {
            memory.write(at, part, 0, part.length);
            addSegments(chain, at, part.length, false);
            at += part.length;
        }
        at = writable;
        for (int size : request.writableSizes()) {
            addSegments(chain, at, size, true);
            at += size;
        }
        chain.indirect(useIndirect && chain.size() > 1);
        if (queue.descriptorsNeeded(chain) > queue.size()) {
            release(r);
            throw new IllegalArgumentException(String.format("%s: a chain of %d descriptors cannot fit queue %d of size %d; use larger segments",
                    device, chain.size(), queueIndex, queue.size()));
        }
        while (!queue.canAdd(chain)) {
            complete(awaitUsed(queue, device.timeout()));
        }
        queue.add(chain, r);
        inFlight.add(r);
        queue.kick();
        return r.future;
    }

    private void addSegments(Chain chain, long address, int length, boolean writable) {
        for (int off = 0; off < length; off += segmentBytes) {
            int len = Math.min(segmentBytes, length - off);
            if (writable) {
                chain.writable(address + off, len);
            } else {
                chain.readable(address + off, len);
            }
        }
    }

    // ---- completion ------------------------------------------------------------------------------

    /**
     * Completes whatever any queue has returned; if nothing, waits (by interrupt) on the queue of
     * the oldest request in flight until it returns something.
     *
     * @return how many requests completed
     * @throws IllegalStateException if nothing is in flight (the wait could never end)
     */
    public int processCompletions(Duration timeout) {
        int done = pollCompletions();
        if (done > 0) {
            return done;
        }
        if (inFlight.isEmpty()) {
            throw new IllegalStateException(device + ": waiting for completions with no request in flight");
        }
        Request oldest = inFlight.iterator().next();
        return complete(awaitUsed(queues.get(oldest.queue), timeout));
    }

    /**
     * Waits for used buffers in slices, reading device_status between them: a device that set
     * DEVICE_NEEDS_RESET (its back-end died) will not answer, and saying so beats a timeout.
     */
    private List<UsedBuffer> awaitUsed(SplitQueue queue, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            long remaining = deadline - System.nanoTime();
            try {
                return queue.awaitUsed(Duration.ofNanos(Math.max(0, Math.min(remaining, STATUS_CHECK.toNanos()))));
            } catch (DriverTimeoutException slice) {
                if (device.needsReset()) {
                    // A device may answer requests in flight before it sets the status (jvmm's
                    // vhost-user front-end does, for a dead back-end): collect those first.
                    List<UsedBuffer> answered = queue.takeUsed();
                    if (!answered.isEmpty()) {
                        return answered;
                    }
                    throw new DeviceNeedsResetException(String.format("%s: the device set DEVICE_NEEDS_RESET with %d requests in flight"
                            + " (queue %d: %s); reset and re-initialise it", device, inFlight.size(), queue.index(), queue.describeState()));
                }
                if (System.nanoTime() - deadline >= 0) {
                    throw new DriverTimeoutException(String.format("%s queue %d: no used buffer and no interrupt within %d ms (%s)",
                            device, queue.index(), timeout.toMillis(), queue.describeState()));
                }
            }
        }
    }

    /** Completes whatever the device has returned on every queue, without waiting. */
    public int pollCompletions() {
        checkInitialized();
        int done = 0;
        for (SplitQueue q : queues) {
            done += complete(q.takeUsed());
        }
        return done;
    }

    private int complete(List<UsedBuffer> used) {
        // Collect first, complete after: a future's dependants run here and must see a consistent driver.
        List<Runnable> completions = new ArrayList<>(used.size());
        for (UsedBuffer u : used) {
            if (!(u.token() instanceof Request r)) {
                throw new GuestDriverException(device + ": used buffer " + u + " belongs to a chain this driver did not make");
            }
            long usedLength = Integer.toUnsignedLong(u.length());
            byte[] written = new byte[(int) Math.min(usedLength, r.capacity)];
            if (written.length > 0) {
                memory.read(r.writable, written, 0, written.length);
            }
            release(r);
            inFlight.remove(r);
            FsResponse response = new FsResponse(written, usedLength, r.capacity);
            completions.add(() -> r.future.complete(response));
        }
        completions.forEach(Runnable::run);
        return used.size();
    }

    private void release(Request r) {
        pages.free(r.readable);
        if (r.writable != 0) {
            pages.free(r.writable);
        }
    }

    /**
     * Drives completions until {@code future} is done and returns its value.
     *
     * @throws RuntimeException the failure the future completed with, as it is (a FUSE error stays a
     *     {@link FuseException}); a {@link DeviceNeedsResetException} if the device broke, a
     *     {@link DriverTimeoutException} if it just stops answering
     */
    public <T> T await(CompletableFuture<T> future) {
        while (!future.isDone()) {
            processCompletions(device.timeout());
        }
        try {
            return future.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new GuestDriverException("interrupted waiting for " + device);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException re) {
                throw re;
            }
            throw new GuestDriverException(device + ": request failed: " + e.getCause(), e.getCause());
        }
    }

    // ---- reset -------------------------------------------------------------------------------------

    /**
     * Resets the device (waiting until status reads 0) and fails every request still in flight
     * with {@link DeviceResetException}; their memory is freed, the device no longer touching it.
     *
     * @return how many of this driver's requests were abandoned
     */
    public int reset() {
        device.beginReset();
        return completeReset();
    }

    /** The second half of {@link #reset()}, after something already wrote 0 to device_status. */
    public int completeReset() {
        List<Object> abandoned = device.awaitResetComplete();
        queues = null;
        inFlight.clear();
        int requests = 0;
        for (Object token : abandoned) {
            if (token instanceof Request r) {   // chains a test added by hand carry other tokens
                release(r);
                r.future.completeExceptionally(new DeviceResetException(device + ": reset with the request in flight on queue " + r.queue));
                requests++;
            }
        }
        log.debug("{}: reset, {} requests abandoned", device, requests);
        return requests;
    }

    private void checkInitialized() {
        if (queues == null) {
            throw new IllegalStateException(device + ": the file-system driver is not initialised (or was reset)");
        }
    }

    @Override
    public String toString() {
        return "virtio-fs driver for " + device;
    }
}
