package io.jvmm.devices.rng;

import io.jvmm.virtio.VirtioActivation;
import io.jvmm.virtio.VirtioDevice;
import io.jvmm.virtio.VirtioFault;
import io.jvmm.virtio.VirtioIdentity;
import io.jvmm.pci.dispatch.IoCompletion;
import io.jvmm.virtio.queue.DescriptorChain;
import io.jvmm.virtio.queue.SplitVirtqueue;

import java.nio.ByteBuffer;
import java.security.SecureRandom;
import java.util.concurrent.CompletableFuture;

/** virtio-rng (virtio 1.x section 5.4): fills each device-writable buffer from SecureRandom. */
public final class RngDevice implements VirtioDevice {
    public static final int DEVICE_TYPE = 4;
    /** "Unassigned class", as other VMMs use for entropy devices. */
    public static final int PCI_CLASS = 0xff0000;
    private static final int CHUNK = 4096;

    private final VirtioIdentity identity;
    private final RngMetrics metrics;
    private final SecureRandom random = new SecureRandom();
    private final byte[] scratch = new byte[CHUNK];
    private VirtioActivation activation;

    /** A device with meters nobody reads (tests, a device built outside a machine). */
    public RngDevice(String id) {
        this(new RngOptions(id), RngMetrics.unregistered(id));
    }

    public RngDevice(RngOptions options, RngMetrics metrics) {
        this.identity = new VirtioIdentity(options.id(), DEVICE_TYPE, "virtio-rng", PCI_CLASS);
        this.metrics = metrics;
    }

    @Override
    public VirtioIdentity identity() {
        return identity;
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
    public CompletableFuture<Void> activate(VirtioActivation activation) {
        this.activation = activation;
        return IoCompletion.DONE;
    }

    @Override
    public void queueNotified(int queue) {
        SplitVirtqueue vq = activation == null ? null : activation.queue(0);
        if (vq == null) {
            return;
        }
        vq.drain(chain -> {
            int written = fill(chain);
            vq.push(chain, written);
            metrics.served(written);
        }, vq::notifyGuest);
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
