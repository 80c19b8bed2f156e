package io.jvmm.virtio.vhost.backend;

import io.jvmm.virtio.VirtioFeatures;
import io.jvmm.virtio.queue.DescriptorChain;
import io.jvmm.virtio.queue.SplitVirtqueue;
import io.jvmm.virtio.queue.VirtqueueFault;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A test device in the manner of virtio-rng: every request is a device-writable buffer the
 * device fills with a known pattern (so a test can check both that it was served and by whom)
 * and returns. Counts what it served. Its configuration space is a small writable byte array,
 * for GET/SET_CONFIG tests. With a hold length, a request whose device-writable part is exactly
 * that long is taken and never returned (as a back-end that completes out of order and dies
 * before finishing some): the ring goes on around it, reusing its avail slot.
 */
public final class FillingDevice implements BackendDevice {
    /** virtio-rng's type: guest entropy drivers work with it unchanged. */
    public static final int DEVICE_TYPE = 4;
    public static final long FEATURES = VirtioFeatures.bit(VirtioFeatures.VERSION_1)
            | VirtioFeatures.bit(VirtioFeatures.RING_EVENT_IDX) | VirtioFeatures.bit(VirtioFeatures.RING_INDIRECT_DESC);

    private final int queues;
    private final byte[] config;
    private final AtomicLong served = new AtomicLong();
    private final AtomicLong held = new AtomicLong();
    private final int holdLength;

    public FillingDevice(int queues, byte[] config) {
        this(queues, config, 0);
    }

    /** @param holdLength requests with exactly this many device-writable bytes are never returned (0: none) */
    public FillingDevice(int queues, byte[] config, int holdLength) {
        if (holdLength < 0) {
            throw new IllegalArgumentException("hold length must be >= 0, got " + holdLength);
        }
        this.holdLength = holdLength;
        if (queues < 1) {
            throw new IllegalArgumentException("filling device needs at least one queue, got " + queues);
        }
        this.queues = queues;
        this.config = config.clone();
    }

    /** One queue, an 8-byte configuration space 0..7. */
    public static FillingDevice standard() {
        return new FillingDevice(1, new byte[] {0, 1, 2, 3, 4, 5, 6, 7});
    }

    /** The byte the device writes at position i of a buffer. */
    public static byte pattern(int i) {
        return (byte) (0xA5 ^ i * 7);
    }

    @Override
    public String name() {
        return "filling device";
    }

    @Override
    public long features() {
        return FEATURES;
    }

    @Override
    public int queueCount() {
        return queues;
    }

    @Override
    public synchronized byte[] config() {
        return config.clone();
    }

    @Override
    public synchronized boolean writeConfig(int offset, byte[] data) {
        if (offset < 0 || offset + data.length > config.length) {
            return false;
        }
        System.arraycopy(data, 0, config, offset, data.length);
        return true;
    }

    @Override
    public void process(int queue, SplitVirtqueue ring) {
        ring.drain(chain -> {
            if (holdLength > 0 && chain.writableLength() == holdLength) {
                held.incrementAndGet();
                return;   // taken, never returned
            }
            ring.push(chain, fill(queue, chain));
            served.incrementAndGet();
        }, ring::notifyGuest);
    }

    /** Writes the pattern into the chain's device-writable buffers; returns the bytes written. */
    private static int fill(int queue, DescriptorChain chain) {
        if (chain.writableLength() == 0) {
            throw new VirtqueueFault(queue, "request " + chain.head() + " has no device-writable buffer");
        }
        int written = 0;
        for (ByteBuffer b : chain.writable()) {
            ByteBuffer out = b.duplicate();
            for (int i = out.position(); i < out.limit(); i++) {
                out.put(i, pattern(written++));
            }
        }
        return written;
    }

    /** Requests taken and kept (the hold length's), so far (any thread). */
    public long held() {
        return held.get();
    }

    /** Requests served so far (any thread). */
    public long served() {
        return served.get();
    }

    @Override
    public String toString() {
        return name() + " (" + queues + " queues, config " + Arrays.toString(config()) + ")";
    }
}
