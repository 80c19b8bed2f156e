package io.jvmm.devices.rng;

import io.jvmm.virtio.VirtioActivation;
import io.jvmm.virtio.VirtioDevice;
import io.jvmm.virtio.VirtioFault;
import io.jvmm.pci.dispatch.IoCompletion;
import io.jvmm.virtio.queue.DescriptorChain;
import io.jvmm.virtio.queue.SplitVirtqueue;

import java.nio.ByteBuffer;
import java.security.SecureRandom;
import java.util.concurrent.CompletableFuture;

/** virtio-rng (virtio 1.x section 5.4): fills each device-writable buffer from SecureRandom. */
public final class VirtioRng implements VirtioDevice {
    public static final int DEVICE_TYPE = 4;
    private static final int CHUNK = 4096;

    private final String id;
    private final SecureRandom random = new SecureRandom();
    private final byte[] scratch = new byte[CHUNK];
    private VirtioActivation activation;

    public VirtioRng(String id) {
        this.id = id;
    }

    @Override
    public String id() {
        return id;
    }

    @Override
    public int deviceType() {
        return DEVICE_TYPE;
    }

    @Override
    public String typeName() {
        return "virtio-rng";
    }

    @Override
    public int pciClassCode() {
        return 0xff0000;   // "unassigned class", as other VMMs use for entropy devices
    }

    @Override
    public long deviceFeatures() {
        return 0;
    }

    @Override
    public int queueCount() {
        return 1;
    }

    @Override
    public int maxQueueSize() {
        return 256;
    }

    @Override
    public int configSize() {
        return 0;
    }

    @Override
    public int readConfig(int offset, int size) {
        return 0;
    }

    @Override
    public void writeConfig(int offset, int size, int value) {
    }

    @Override
    public void activate(VirtioActivation activation) {
        this.activation = activation;
    }

    @Override
    public void queueNotified(int queue) {
        SplitVirtqueue vq = activation == null ? null : activation.queue(0);
        if (vq == null) {
            return;
        }
        vq.drain(chain -> vq.push(chain, fill(chain)), vq::notifyGuest);
    }

    /** Fills the chain's device-writable buffers with entropy; returns the bytes written. */
    private int fill(DescriptorChain chain) {
        if (chain.writableLength() == 0) {
            throw new VirtioFault("queue 0: entropy request " + chain.head() + " has no device-writable buffer");
        }
        int written = 0;
        for (ByteBuffer buffer : chain.writable()) {
            ByteBuffer out = buffer.duplicate();
            while (out.hasRemaining()) {
                int n = Math.min(out.remaining(), scratch.length);
                random.nextBytes(scratch);
                out.put(scratch, 0, n);
                written += n;
            }
        }
        return written;
    }

    @Override
    public CompletableFuture<Void> reset() {
        activation = null;
        return IoCompletion.DONE;
    }
}
