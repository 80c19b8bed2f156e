package io.jvmm.testkit.driver.p9;

import io.jvmm.pci.mem.GuestMemory;
import io.jvmm.testkit.driver.DriverTimeoutException;
import io.jvmm.testkit.driver.GuestDriverException;
import io.jvmm.testkit.driver.PageAllocator;
import io.jvmm.testkit.driver.virtio.Chain;
import io.jvmm.testkit.driver.virtio.QueueSetup;
import io.jvmm.testkit.driver.virtio.SplitQueue;
import io.jvmm.testkit.driver.virtio.UsedBuffer;
import io.jvmm.testkit.driver.virtio.VirtioFeatureBits;
import io.jvmm.testkit.driver.virtio.VirtioPciDriver;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.List;
import java.util.Objects;

/**
 * The guest's virtio-9p transport (virtio 1.2, 5.3; Linux's net/9p/trans_virtio.c): one request
 * queue; each 9P message is one chain, the T-message readable and room for the reply writable
 * (split into page-sized descriptors, as Linux does). The device may return a chain with nothing
 * written (a request a Tflush cancelled): {@link #receive} hands that back as an empty reply
 * naming the request's tag. Not thread-safe: one guest thread drives it.
 */
public final class VirtioP9Driver implements P9Transport {
    public static final int DEVICE_TYPE = 9;
    static final long F_MOUNT_TAG = 1L;

    private final VirtioPciDriver device;
    private final GuestMemory memory;
    private final PageAllocator pages;
    private SplitQueue queue;
    private int segmentBytes = 4096;
    private final ArrayDeque<Received> ready = new ArrayDeque<>();

    /** One message the device holds. */
    private record Request(int tag, long readable, long writable, int capacity) {
    }

    public VirtioP9Driver(VirtioPciDriver device) {
        this.device = Objects.requireNonNull(device, "device");
        if (device.deviceType() != DEVICE_TYPE) {
            throw new GuestDriverException(device + " is not a 9P device (virtio type " + DEVICE_TYPE + ")");
        }
        this.memory = device.guest().cpu().memory();
        this.pages = device.guest().pages();
    }

    public VirtioPciDriver device() {
        return device;
    }

    /** Initialises the device with the mount-tag feature and its request queue. */
    public VirtioP9Driver initialize() {
        List<SplitQueue> qs = device.initialize(F_MOUNT_TAG | VirtioFeatureBits.RING_INDIRECT_DESC | VirtioFeatureBits.RING_EVENT_IDX,
                List.of(QueueSetup.deviceMax()));
        queue = qs.get(0);
        return this;
    }

    /** struct virtio_9p_config: le16 tag_len, then the tag. */
    public String mountTag() {
        return device.readConfigConsistently(() -> {
            int len = device.readConfig16(0);
            byte[] tag = new byte[len];
            for (int i = 0; i < len; i++) {
                tag[i] = (byte) device.readConfig8(2 + i);
            }
            return new String(tag, StandardCharsets.UTF_8);
        });
    }

    public SplitQueue queue() {
        return queue;
    }

    /** Chains the device holds now. */
    public int inFlight() {
        return queue.inFlight();
    }

    public void setSegmentBytes(int bytes) {
        segmentBytes = bytes;
    }

    @Override
    public void send(byte[] message, int replyCapacity) {
        if (queue == null) {
            throw new IllegalStateException(device + ": the 9P driver is not initialised");
        }
        if ((message[4] & 0xff) == P9Wire.TWRITE) {
            // As Linux's zero-copy path: an Rwrite needs a header only, so the chain stays within
            // the queue size (a chain longer than the queue size is a driver mistake, virtio 2.7.5.3.1).
            replyCapacity = Math.min(replyCapacity, 4096);
        }
        long readable = pages.allocate(message.length);
        long writable = pages.allocate(replyCapacity);
        memory.write(readable, message, 0, message.length);
        int tag = (message[5] & 0xff) | (message[6] & 0xff) << 8;
        Chain chain = Chain.create();
        for (int off = 0; off < message.length; off += segmentBytes) {
            chain.readable(readable + off, Math.min(segmentBytes, message.length - off));
        }
        for (int off = 0; off < replyCapacity; off += segmentBytes) {
            chain.writable(writable + off, Math.min(segmentBytes, replyCapacity - off));
        }
        chain.indirect(chain.size() > 1 && queue.indirectNegotiated());
        while (!queue.canAdd(chain)) {
            collect(queue.awaitUsed(device.timeout()));
        }
        queue.add(chain, new Request(tag, readable, writable, replyCapacity));
        queue.kick();
    }

    @Override
    public Received receive(Duration timeout) {
        if (ready.isEmpty()) {
            collect(queue.takeUsed());
        }
        if (ready.isEmpty() && queue.inFlight() > 0) {
            try {
                collect(queue.awaitUsed(timeout));
            } catch (DriverTimeoutException e) {
                return null;
            }
        }
        return ready.poll();
    }

    private void collect(List<UsedBuffer> used) {
        for (UsedBuffer u : used) {
            if (!(u.token() instanceof Request r)) {
                throw new GuestDriverException(device + ": used buffer " + u + " belongs to a chain this driver did not make");
            }
            int n = (int) Math.min(Integer.toUnsignedLong(u.length()), r.capacity());
            byte[] reply = new byte[n];
            if (n > 0) {
                memory.read(r.writable(), reply, 0, n);
            }
            pages.free(r.readable());
            pages.free(r.writable());
            ready.add(new Received(r.tag(), reply));
        }
    }

    @Override
    public void close() {
        // The machine owns the device; nothing to release here.
    }

    @Override
    public String toString() {
        return "virtio-9p driver for " + device;
    }
}
