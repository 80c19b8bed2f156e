package io.jvmm.tests.fs;

import io.jvmm.pci.dispatch.IoCompletion;
import io.jvmm.testkit.driver.fs.FuseInHeader;
import io.jvmm.testkit.driver.fs.FuseOutHeader;
import io.jvmm.virtio.VirtioActivation;
import io.jvmm.virtio.VirtioDevice;
import io.jvmm.virtio.VirtioIdentity;
import io.jvmm.virtio.queue.DescriptorChain;
import io.jvmm.virtio.queue.SplitVirtqueue;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A test double of a virtio-fs device (type 26) whose FUSE server is a script: each request is
 * handed to the script, which answers it now, later (holding it), or never, with well-formed or
 * malformed replies. It lets the guest driver meet what virtiofsd would never send: wrong
 * uniques, lying lengths, silence, out-of-order completions. Not the vhost-user-fs device model.
 */
final class ScriptedFuseDevice implements VirtioDevice {
    /** The server logic: answer {@code request} (now or later) or leave it unanswered. */
    @FunctionalInterface
    interface Script {
        void handle(Request request);
    }

    /** One request popped from a ring; replies write into its writable buffers and return it. */
    static final class Request {
        final int queue;
        final FuseInHeader header;
        final byte[] bytes;   // the whole device-readable part
        final long writableLength;
        final int readableDescriptors;
        private final DescriptorChain chain;
        private final SplitVirtqueue ring;
        private boolean answered;

        Request(int queue, DescriptorChain chain, SplitVirtqueue ring) {
            this.queue = queue;
            this.chain = chain;
            this.ring = ring;
            this.bytes = new byte[(int) chain.readableLength()];
            chain.copyFromReadable(0, ByteBuffer.wrap(bytes));
            this.header = FuseInHeader.decode(bytes);
            this.writableLength = chain.writableLength();
            this.readableDescriptors = chain.readable().size();
        }

        /** The arguments after the in-header. */
        ByteBuffer args() {
            return ByteBuffer.wrap(bytes, FuseInHeader.BYTES, bytes.length - FuseInHeader.BYTES).slice()
                    .order(java.nio.ByteOrder.LITTLE_ENDIAN);
        }

        /** Writes {@code written} (as much as fits) and reports {@code usedLength}, true or not. */
        void raw(byte[] written, long usedLength) {
            if (answered) {
                throw new IllegalStateException("request " + header.unique() + " answered twice");
            }
            answered = true;
            chain.copyToWritable(0, ByteBuffer.wrap(written));
            ring.push(chain, (int) usedLength);
            ring.notifyGuest();
        }

        void ok(byte[] body) {
            raw(reply(16 + body.length, 0, header.unique(), body), 16 + body.length);
        }

        void error(int errno) {
            raw(reply(16, -errno, header.unique(), new byte[0]), 16);
        }

        /** Returns the buffer with nothing written (FORGET). */
        void done() {
            raw(new byte[0], 0);
        }
    }

    static byte[] reply(int len, int error, long unique, byte[] body) {
        ByteBuffer b = ByteBuffer.allocate(16 + body.length);
        b.put(new FuseOutHeader(len, error, unique).encode()).put(body);
        return b.array();
    }

    private final String tag;
    private final int requestQueues;
    private final byte[] config;
    private volatile Script script;
    private VirtioActivation activation;
    final List<Request> seen = new CopyOnWriteArrayList<>();

    ScriptedFuseDevice(String tag, int requestQueues, Script script) {
        this.tag = tag;
        this.requestQueues = requestQueues;
        this.config = io.jvmm.devices.fs.VhostUserFsConfig.bytes(tag, requestQueues);
        this.script = script;
    }

    void setScript(Script script) {
        this.script = script;
    }

    @Override
    public VirtioIdentity identity() {
        return new VirtioIdentity("scripted-fs", 26, "scripted FUSE device (" + tag + ")", 0x018000);
    }

    @Override
    public long deviceFeatures() {
        return 0;
    }

    @Override
    public int queueCount() {
        return 1 + requestQueues;
    }

    @Override
    public int maxQueueSize() {
        return 64;
    }

    @Override
    public int configSize() {
        return config.length;
    }

    @Override
    public int readConfig(int offset, int size) {
        int value = 0;
        for (int i = 0; i < size; i++) {
            value |= (config[offset + i] & 0xff) << (8 * i);
        }
        return value;
    }

    @Override
    public void writeConfig(int offset, int size, int value) {
    }

    @Override
    public CompletableFuture<Void> activate(VirtioActivation activation) {
        this.activation = activation;
        return CompletableFuture.completedFuture(null);
    }

    @Override
    public void queueNotified(int queue) {
        SplitVirtqueue ring = activation == null ? null : activation.queue(queue);
        if (ring == null) {
            return;
        }
        ring.drain(chain -> {
            Request r = new Request(queue, chain, ring);
            seen.add(r);
            script.handle(r);
        });
    }

    /** Held requests are dropped: the reset cancels them (the driver fails their futures). */
    @Override
    public CompletableFuture<Void> reset() {
        activation = null;
        return IoCompletion.DONE;
    }

    /** The requests seen with {@code opcode}, in arrival order. */
    List<Request> seen(int opcode) {
        List<Request> out = new ArrayList<>();
        for (Request r : seen) {
            if (r.header.opcode() == opcode) {
                out.add(r);
            }
        }
        return out;
    }
}
