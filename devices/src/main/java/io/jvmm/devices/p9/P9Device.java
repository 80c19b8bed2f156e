package io.jvmm.devices.p9;

import io.jvmm.pci.dispatch.IoCompletion;
import io.jvmm.virtio.VirtioActivation;
import io.jvmm.virtio.VirtioDevice;
import io.jvmm.virtio.VirtioFault;
import io.jvmm.virtio.VirtioIdentity;
import io.jvmm.virtio.queue.DescriptorChain;
import io.jvmm.virtio.queue.SplitVirtqueue;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.ByteBuffer;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * virtio-9p (virtio 1.x section 5.3): each descriptor chain carries one T-message (readable) and
 * room for its R-message (writable). Many requests are in flight; the backend answers them in any
 * order, and the chains go back to the used ring in exactly the order the backend answered
 * (an Rflush after its victim's reply or release). Every chain taken from the ring is returned
 * exactly once (rule 4): answered, released empty (a request a Tflush cancelled, as QEMU does), or
 * failed; a reset waits until all of them are back.
 */
public final class P9Device implements VirtioDevice {
    private static final Logger log = LoggerFactory.getLogger(P9Device.class);
    public static final int DEVICE_TYPE = 9;
    /** What QEMU gives virtio-9p-pci (0x0002). */
    public static final int PCI_CLASS = 0x000200;
    static final long F_MOUNT_TAG = 1L;
    private static final int RLERROR = 7;
    private static final int EMSGSIZE = 90;
    private static final int EPROTO = 71;
    /** Larger T-messages are refused before anything is copied (Linux's virtio client sends at most 512000 bytes). */
    static final int MAX_MESSAGE = 1 << 20;

    /** One request's chain, as long as the device holds it. */
    public static final class Slot {
        final SplitVirtqueue queue;
        final DescriptorChain chain;
        final int generation;
        final io.jvmm.chardev.EventContext context;

        Slot(SplitVirtqueue queue, DescriptorChain chain, int generation, io.jvmm.chardev.EventContext context) {
            this.queue = queue;
            this.chain = chain;
            this.generation = generation;
            this.context = context;
        }
    }

    private record Completion(Slot slot, ByteBuf reply) {
    }

    private final String id;
    private final VirtioIdentity identity;
    private final P9Config config;
    private final P9Backend backend;
    private final P9Metrics metrics;
    private final int queueSize;
    private final ConcurrentLinkedQueue<Completion> completions = new ConcurrentLinkedQueue<>();
    private final AtomicBoolean drainScheduled = new AtomicBoolean();
    private final P9Backend.Sink sink = new P9Backend.Sink() {
        @Override
        public void reply(Slot slot, ByteBuf reply) {
            completed(slot, reply);
        }

        @Override
        public void release(Slot slot) {
            completed(slot, null);
        }
    };

    // Context-confined.
    private VirtioActivation activation;
    private int generation;
    private volatile int held;   // chains taken and not returned (read by the gauge from any thread)
    private CompletableFuture<Void> drained;

    P9Device(P9Options options, P9Backend backend, P9Metrics metrics) {
        this.id = options.id();
        this.identity = new VirtioIdentity(id, DEVICE_TYPE, "virtio-9p", PCI_CLASS);
        this.config = new P9Config(options.mountTag());
        this.backend = backend;
        this.metrics = metrics;
        this.queueSize = options.queueSize();
        metrics.ringSlots(() -> held);
    }

    @Override
    public VirtioIdentity identity() {
        return identity;
    }

    @Override
    public long deviceFeatures() {
        return F_MOUNT_TAG;
    }

    @Override
    public int queueCount() {
        return 1;
    }

    @Override
    public int maxQueueSize() {
        return queueSize;
    }

    @Override
    public int configSize() {
        return config.size();
    }

    @Override
    public int readConfig(int offset, int size) {
        return config.read(offset, size);
    }

    @Override
    public void writeConfig(int offset, int size, int value) {
        log.debug("virtio-9p {}: write to read-only config offset {} ignored", id, offset);
    }

    /** Chains held now (taken from the ring and not yet returned). */
    public int ringSlotsHeld() {
        return held;
    }

    P9Backend backend() {
        return backend;
    }

    @Override
    public CompletableFuture<Void> activate(VirtioActivation activation) {
        this.activation = activation;
        backend.start(sink);
        return IoCompletion.DONE;
    }

    @Override
    public void queueNotified(int queue) {
        SplitVirtqueue vq = activation == null ? null : activation.queue(0);
        if (vq == null) {
            return;
        }
        vq.drain(chain -> start(vq, chain));
    }

    private void start(SplitVirtqueue vq, DescriptorChain chain) {
        if (chain.writableLength() == 0) {
            throw new VirtioFault("queue 0: 9P request " + chain.head() + " has no device-writable buffer for its reply");
        }
        Slot slot = new Slot(vq, chain, generation, activation.context());
        held++;
        long readable = chain.readableLength();
        ByteBuffer header = ByteBuffer.allocate(7).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        chain.copyFromReadable(0, header);
        long size = readable >= 4 ? Integer.toUnsignedLong(header.getInt(0)) : 0;
        if (readable < 7 || size < 7 || size > readable) {
            log.warn("virtio-9p {}: request {} is malformed (size field {}, {} readable bytes); answered with EPROTO",
                    id, chain.head(), size, readable);
            completed(slot, rlerror(readable >= 7 ? header.getShort(5) & 0xffff : 0xffff, EPROTO));
            return;
        }
        if (size > MAX_MESSAGE) {
            log.warn("virtio-9p {}: request {} is a {}-byte message, over the {} bytes any msize allows; answered with EMSGSIZE",
                    id, chain.head(), size, MAX_MESSAGE);
            completed(slot, rlerror(header.getShort(5) & 0xffff, EMSGSIZE));
            return;
        }
        ByteBuf message = PooledByteBufAllocator.DEFAULT.directBuffer((int) size);
        for (ByteBuffer part : chain.readableRange(0, size)) {
            message.writeBytes(part);
        }
        backend.submit(message, slot);
    }

    private static ByteBuf rlerror(int tag, int errno) {
        ByteBuf b = PooledByteBufAllocator.DEFAULT.directBuffer(11);
        b.writeIntLE(11).writeByte(RLERROR).writeShortLE(tag).writeIntLE(errno);
        return b;
    }

    /** Any thread, in wire order: queued, then returned to the ring on the device's context in that order. */
    private void completed(Slot slot, ByteBuf reply) {
        completions.add(new Completion(slot, reply));
        if (drainScheduled.compareAndSet(false, true)) {
            slot.context.execute("9p completions", this::drainCompletions);
        }
    }

    private void drainCompletions() {
        drainScheduled.set(false);
        SplitVirtqueue notify = null;
        for (Completion c; (c = completions.poll()) != null; ) {
            held--;
            Slot slot = c.slot();
            ByteBuf reply = c.reply();
            try {
                if (slot.generation != generation || activation == null) {
                    continue;     // reset meanwhile: the guest abandoned the chain
                }
                int written = 0;
                if (reply != null) {
                    written = copyReply(slot.chain, reply);
                }
                slot.queue.push(slot.chain, written);
                notify = slot.queue;
            } finally {
                if (reply != null) {
                    reply.release();
                }
            }
        }
        if (notify != null) {
            notify.notifyGuest();
        }
        if (held == 0 && drained != null) {
            CompletableFuture<Void> d = drained;
            drained = null;
            d.complete(null);
        }
    }

    /** Writes the reply into the chain; one that does not fit becomes Rlerror(EMSGSIZE), never a cut reply. */
    private int copyReply(DescriptorChain chain, ByteBuf reply) {
        int n = reply.readableBytes();
        if (n <= chain.writableLength()) {
            return chain.copyToWritable(0, reply.nioBuffer());
        }
        metrics.tooLarge();
        int tag = reply.getUnsignedShortLE(5);
        log.warn("virtio-9p {}: a {}-byte reply (tag {}) does not fit the guest's {}-byte buffer; answered with EMSGSIZE",
                id, n, tag, chain.writableLength());
        if (chain.writableLength() < 11) {
            return 0;
        }
        ByteBuf err = rlerror(tag, EMSGSIZE);
        try {
            return chain.copyToWritable(0, err.nioBuffer());
        } finally {
            err.release();
        }
    }

    @Override
    public CompletableFuture<Void> reset() {
        generation++;
        activation = null;
        backend.stop();
        if (held == 0) {
            return IoCompletion.DONE;
        }
        drained = new CompletableFuture<>();
        return drained;
    }

    @Override
    public void close() {
        backend.close();
    }
}
