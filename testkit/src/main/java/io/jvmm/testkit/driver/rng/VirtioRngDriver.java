package io.jvmm.testkit.driver.rng;

import io.jvmm.testkit.driver.GuestDriverException;
import io.jvmm.testkit.driver.virtio.Chain;
import io.jvmm.testkit.driver.virtio.QueueSetup;
import io.jvmm.testkit.driver.virtio.SplitQueue;
import io.jvmm.testkit.driver.virtio.UsedBuffer;
import io.jvmm.testkit.driver.virtio.VirtioFeatureBits;
import io.jvmm.testkit.driver.virtio.VirtioPciDriver;

import java.util.List;
import java.util.Objects;

/**
 * The guest's virtio-rng driver (virtio 1.x, 5.4): one queue of device-writable buffers the
 * device fills with entropy. Not thread-safe: one guest thread.
 */
public final class VirtioRngDriver {
    public static final int DEVICE_TYPE = 4;
    public static final long WANTED_FEATURES = VirtioFeatureBits.RING_EVENT_IDX | VirtioFeatureBits.RING_INDIRECT_DESC;

    private final VirtioPciDriver device;
    private SplitQueue queue;

    public VirtioRngDriver(VirtioPciDriver device) {
        this.device = Objects.requireNonNull(device, "device");
        if (device.deviceType() != DEVICE_TYPE) {
            throw new GuestDriverException(device + " is not an entropy device");
        }
    }

    public VirtioPciDriver device() {
        return device;
    }

    public VirtioRngDriver initialize() {
        queue = device.initialize(WANTED_FEATURES, List.of(QueueSetup.deviceMax())).get(0);
        return this;
    }

    public SplitQueue queue() {
        if (queue == null) {
            throw new IllegalStateException(device + ": the entropy driver is not initialised (or was reset)");
        }
        return queue;
    }

    /**
     * Reads {@code n} bytes of entropy: offers a device-writable buffer, waits for it by interrupt,
     * and repeats while the device returned fewer bytes than asked.
     */
    public byte[] read(int n) {
        if (n <= 0) {
            throw new IllegalArgumentException("entropy read of " + n + " bytes");
        }
        SplitQueue q = queue();
        byte[] out = new byte[n];
        int filled = 0;
        long buffer = device.guest().pages().allocate(n);
        // On failure the buffer stays allocated: the device may still own it until a reset.
        while (filled < n) {
            Object token = new Object();
            q.add(Chain.create().writable(buffer, n - filled), token);
            q.kick();
            List<UsedBuffer> used = q.awaitUsed(device.timeout());
            for (UsedBuffer u : used) {
                if (u.token() != token) {
                    throw new GuestDriverException(device + ": used buffer for a request never made: " + u);
                }
                if (u.length() <= 0 || u.length() > n - filled) {
                    throw new GuestDriverException(device + ": device claims to have written " + u.length()
                            + " bytes into a " + (n - filled) + "-byte buffer");
                }
                device.guest().cpu().memory().read(buffer, out, filled, u.length());
                filled += u.length();
            }
        }
        device.guest().pages().free(buffer);
        return out;
    }

    /** Resets the device and forgets the queue. */
    public void reset() {
        device.reset();
        queue = null;
    }
}
