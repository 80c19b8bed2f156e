package io.jvmm.devices.blk;

import io.jvmm.chardev.EventContext;
import io.jvmm.pci.dispatch.IoCompletion;
import io.jvmm.virtio.VirtioActivation;
import io.jvmm.virtio.VirtioDevice;
import io.jvmm.virtio.VirtioFault;
import io.jvmm.virtio.VirtioFeatures;
import io.jvmm.virtio.VirtioIdentity;
import io.jvmm.virtio.queue.DescriptorChain;
import io.jvmm.virtio.queue.SplitVirtqueue;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * virtio-blk (virtio 1.x section 5.2) over a {@link BlockBackend}: IN, OUT, FLUSH, GET_ID,
 * DISCARD and WRITE_ZEROES, with several requests in flight. Requests are taken from the ring on
 * the device's context; I/O runs on the backend's threads straight into guest memory; completions
 * come back to the context, which fills the used ring. Every request taken is completed exactly
 * once, or dropped by a reset that waits for it first.
 */
public final class BlkDevice implements VirtioDevice {
    /** Mass storage, "other": what QEMU gives virtio-blk-pci. */
    public static final int PCI_CLASS = 0x018000;
    private static final Logger log = LoggerFactory.getLogger(BlkDevice.class);
    public static final int DEVICE_TYPE = 2;
    public static final int SECTOR = 512;

    static final int F_SIZE_MAX = 1;
    static final int F_SEG_MAX = 2;
    static final int F_RO = 5;
    static final int F_BLK_SIZE = 6;
    static final int F_FLUSH = 9;
    static final int F_DISCARD = 13;
    static final int F_WRITE_ZEROES = 14;

    static final int SIZE_MAX = 1 << 20;
    static final int MAX_DISCARD_SECTORS = 1 << 22;

    private final String id;
    private final VirtioIdentity identity;
    private final BlockBackend backend;
    private final BlkMetrics metrics;
    private final byte[] serial;
    private final int queueSize;
    private final int segMax;
    private final BlkConfig config;

    // Context-confined state.
    private VirtioActivation activation;
    private int generation;
    private int inFlight;
    private CompletableFuture<Void> drained;

    /**
     * A device over {@code backend} (which it closes), configured by {@code options} (validated
     * there: serial length, queue size).
     */
    public BlkDevice(BlkOptions options, BlockBackend backend, BlkMetrics metrics) {
        this.id = options.id();
        this.identity = new VirtioIdentity(id, DEVICE_TYPE, "virtio-blk", PCI_CLASS);
        this.backend = backend;
        this.metrics = metrics;
        this.serial = options.serial() == null ? new byte[0] : options.serial().getBytes(StandardCharsets.US_ASCII);
        this.queueSize = options.queueSize();
        this.segMax = queueSize - 2;   // header and status take two descriptors
        if (backend.size() % SECTOR != 0) {
            log.warn("virtio-blk {}: {} is {} bytes, not a multiple of {}; the last partial sector is not visible",
                    id, backend.describe(), backend.size(), SECTOR);
        }
        this.config = new BlkConfig(backend.size() / SECTOR, SIZE_MAX, segMax, MAX_DISCARD_SECTORS);
    }

    @Override
    public VirtioIdentity identity() {
        return identity;
    }

    @Override
    public long deviceFeatures() {
        long f = VirtioFeatures.bit(F_SIZE_MAX) | VirtioFeatures.bit(F_SEG_MAX) | VirtioFeatures.bit(F_BLK_SIZE)
                | VirtioFeatures.bit(F_FLUSH) | VirtioFeatures.bit(F_DISCARD) | VirtioFeatures.bit(F_WRITE_ZEROES);
        return backend.readOnly() ? f | VirtioFeatures.bit(F_RO) : f;
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
        return BlkConfig.SIZE;
    }

    @Override
    public int readConfig(int offset, int size) {
        return config.read(offset, size);
    }

    @Override
    public void writeConfig(int offset, int size, int value) {
        log.debug("virtio-blk {}: write to read-only config offset {} ignored", id, offset);
    }

    public BlockBackend backend() {
        return backend;
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
        vq.drain(chain -> start(vq, chain));
    }

    /** Parses one request and starts its I/O; the completion returns to the context. */
    private void start(SplitVirtqueue vq, DescriptorChain chain) {
        if (chain.writableLength() < 1) {
            throw new VirtioFault("queue 0: request " + chain.head() + " has no device-writable status byte");
        }
        if (chain.readableLength() < BlkRequestType.HEADER_SIZE) {
            throw new VirtioFault("queue 0: request " + chain.head() + " has a " + chain.readableLength()
                    + "-byte device-readable header, expected " + BlkRequestType.HEADER_SIZE);
        }
        ByteBuffer header = ByteBuffer.allocate(BlkRequestType.HEADER_SIZE).order(ByteOrder.LITTLE_ENDIAN);
        chain.copyFromReadable(0, header);
        int type = header.getInt(0);
        long sector = header.getLong(8);
        long dataOut = chain.readableLength() - BlkRequestType.HEADER_SIZE;
        long dataIn = chain.writableLength() - 1;
        ByteBuffer status = chain.writableRange(dataIn, 1).get(0);

        CompletableFuture<Integer> io;   // completes with the bytes written into the guest's data buffers
        switch (type) {
            case BlkRequestType.IN:
                io = transfer(chain.writableRange(0, dataIn), sector, dataIn, true);
                break;
            case BlkRequestType.OUT:
                io = transfer(chain.readableRange(BlkRequestType.HEADER_SIZE, dataOut), sector, dataOut, false);
                break;
            case BlkRequestType.FLUSH:
                io = backend.flush().thenApply(x -> 0);
                break;
            case BlkRequestType.GET_ID:
                io = CompletableFuture.completedFuture(chain.copyToWritable(0,
                        ByteBuffer.wrap(serial, 0, (int) Math.min(Math.min(serial.length, BlkRequestType.ID_BYTES), dataIn))));
                if (dataIn > serial.length && serial.length < BlkRequestType.ID_BYTES) {   // NUL-pad to 20 bytes
                    int pad = (int) Math.min(BlkRequestType.ID_BYTES, dataIn) - serial.length;
                    if (pad > 0) {
                        chain.copyToWritable(serial.length, ByteBuffer.allocate(pad));
                    }
                }
                break;
            case BlkRequestType.DISCARD:
            case BlkRequestType.WRITE_ZEROES:
                io = ranges(chain, type, dataOut);
                break;
            default:
                io = CompletableFuture.failedFuture(new UnsupportedOperationException(BlkRequestType.name(type)));
        }
        inFlight++;
        metrics.started(type);
        int gen = generation;
        EventContext context = activation.context();
        io.whenComplete((written, error) -> context.execute(
                () -> complete(vq, gen, chain, status, type, sector, written, error)));
    }

    private CompletableFuture<Integer> transfer(List<ByteBuffer> parts, long sector, long length, boolean read) {
        if (!read && backend.readOnly()) {
            return CompletableFuture.failedFuture(new RequestError("write to a read-only drive"));
        }
        if (length % SECTOR != 0) {
            return CompletableFuture.failedFuture(new RequestError("length " + length + " is not a multiple of " + SECTOR));
        }
        if (parts.size() > segMax) {
            return CompletableFuture.failedFuture(new RequestError(parts.size() + " data segments exceed seg_max " + segMax));
        }
        long position = sector * SECTOR;
        if (sector < 0 || position / SECTOR != sector || position + length > backend.size() - backend.size() % SECTOR) {
            return CompletableFuture.failedFuture(new RequestError("sectors " + sector + "+" + length / SECTOR
                    + " beyond the capacity " + backend.size() / SECTOR));
        }
        CompletableFuture<?>[] ops = new CompletableFuture<?>[parts.size()];
        long pos = position;
        for (int i = 0; i < ops.length; i++) {
            ByteBuffer part = parts.get(i);
            if (part.remaining() > SIZE_MAX) {
                return CompletableFuture.failedFuture(new RequestError("segment of " + part.remaining() + " bytes exceeds size_max " + SIZE_MAX));
            }
            int n = part.remaining();
            ops[i] = read ? backend.read(part, pos) : backend.write(part, pos);
            pos += n;
        }
        return CompletableFuture.allOf(ops).thenApply(x -> read ? (int) length : 0);
    }

    private CompletableFuture<Integer> ranges(DescriptorChain chain, int type, long dataOut) {
        if (backend.readOnly()) {
            return CompletableFuture.failedFuture(new RequestError(BlkRequestType.name(type) + " on a read-only drive"));
        }
        if (dataOut == 0 || dataOut % BlkRequestType.SEGMENT_SIZE != 0 || dataOut / BlkRequestType.SEGMENT_SIZE > 1) {
            return CompletableFuture.failedFuture(new RequestError(BlkRequestType.name(type) + " with " + dataOut
                    + " bytes of ranges; exactly one 16-byte range is supported (max_*_seg = 1)"));
        }
        ByteBuffer range = ByteBuffer.allocate(BlkRequestType.SEGMENT_SIZE).order(ByteOrder.LITTLE_ENDIAN);
        chain.copyFromReadable(BlkRequestType.HEADER_SIZE, range);
        long sector = range.getLong(0);
        long sectors = Integer.toUnsignedLong(range.getInt(8));
        int flags = range.getInt(12);
        boolean unmap = (flags & 1) != 0;
        if ((flags & ~1) != 0 || (type == BlkRequestType.DISCARD && unmap)) {
            return CompletableFuture.completedFuture(-BlkRequestType.S_UNSUPP);
        }
        if (sectors > MAX_DISCARD_SECTORS || sector < 0 || sector + sectors > backend.size() / SECTOR) {
            return CompletableFuture.failedFuture(new RequestError(BlkRequestType.name(type) + " of sectors " + sector + "+" + sectors
                    + " outside the capacity " + backend.size() / SECTOR + " or over the limit " + MAX_DISCARD_SECTORS));
        }
        CompletableFuture<Void> op = type == BlkRequestType.DISCARD
                ? backend.discard(sector * SECTOR, sectors * SECTOR)
                : backend.writeZeroes(sector * SECTOR, sectors * SECTOR, unmap);
        return op.thenApply(x -> 0);
    }

    private void complete(SplitVirtqueue vq, int gen, DescriptorChain chain, ByteBuffer status, int type,
                          long sector, Integer written, Throwable error) {
        inFlight--;
        int code = error == null ? (written < 0 ? -written : BlkRequestType.S_OK) : BlkRequestType.S_IOERR;
        if (error != null) {
            Throwable cause = error instanceof java.util.concurrent.CompletionException && error.getCause() != null ? error.getCause() : error;
            code = cause instanceof UnsupportedOperationException ? BlkRequestType.S_UNSUPP : BlkRequestType.S_IOERR;
        }
        metrics.completed(type, code, type == BlkRequestType.OUT ? chain.readableLength() - BlkRequestType.HEADER_SIZE
                : code == BlkRequestType.S_OK && written != null ? written : 0);
        if (gen == generation) {
            int dataWritten = 0;
            if (error != null) {
                Throwable cause = error instanceof java.util.concurrent.CompletionException && error.getCause() != null ? error.getCause() : error;
                if (cause instanceof RequestError) {
                    log.debug("virtio-blk {}: {} at sector {} refused: {}", id, BlkRequestType.name(type), sector, cause.getMessage());
                } else if (code == BlkRequestType.S_IOERR) {
                    log.warn("virtio-blk {}: {} at sector {} failed on {}: {}", id, BlkRequestType.name(type), sector,
                            backend.describe(), cause.toString());
                }
            } else if (written >= 0) {
                dataWritten = written;
            }
            status.put(0, (byte) code);
            vq.push(chain, dataWritten + 1);
            vq.notifyGuest();
        }
        if (inFlight == 0 && drained != null) {
            CompletableFuture<Void> d = drained;
            drained = null;
            d.complete(null);
        }
    }

    @Override
    public CompletableFuture<Void> reset() {
        generation++;
        activation = null;
        if (inFlight == 0) {
            return IoCompletion.DONE;
        }
        drained = new CompletableFuture<>();
        return drained;
    }

    @Override
    public void close() {
        backend.close();
    }

    /** A request the device refuses (IOERR) without touching the backend. */
    private static final class RequestError extends RuntimeException {
        private static final long serialVersionUID = 1L;

        RequestError(String message) {
            super(message, null, false, false);
        }
    }
}
