package io.jvmm.devices.blk;

import io.jvmm.chardev.EventContext;
import io.jvmm.chardev.nativ.LinuxConstants;
import io.jvmm.pci.dispatch.IoCompletion;
import io.jvmm.pci.mem.GuestMemory;
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
import java.util.function.Consumer;

/**
 * virtio-blk (virtio 1.x section 5.2) over a {@link BlockBackend}: IN, OUT, FLUSH, GET_ID,
 * DISCARD and WRITE_ZEROES, with several requests in flight, on one request queue or several
 * (num-queues, VIRTIO_BLK_F_MQ). Requests are taken from the rings on the device's context. A read or write of up to {@link #INLINE_MAX_BYTES} is first offered to
 * the backend's fast path on the context itself ({@link BlockBackend#tryReadNow}: done only if it
 * need not wait, e.g. from the page cache), and completed there, with one interrupt for all the
 * requests of a pass over the ring and no object allocated; everything else runs on the backend's
 * threads straight into guest memory and its completion comes back to the context, which fills
 * the used ring. Every request taken is completed exactly once, or dropped by a reset that waits
 * for it first.
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
    static final int F_MQ = 12;
    static final int F_WRITE_ZEROES = 14;
    /** Most request queues a device may have (num-queues). */
    public static final int MAX_QUEUES = 64;

    static final int SIZE_MAX = 1 << 20;
    static final int MAX_DISCARD_SECTORS = 1 << 22;
    /** Largest read or write offered to the backend's fast path on the context (larger ones go to its threads). */
    static final long INLINE_MAX_BYTES = 128 << 10;

    private final String id;
    private final VirtioIdentity identity;
    private final BlockBackend backend;
    private final BlkMetrics metrics;
    private final byte[] serial;
    private final int queueSize;
    private final int segMax;
    private final int numQueues;
    private final long pollMaxNs;
    private final BlkConfig config;

    // Context-confined state.
    private VirtioActivation activation;
    private int generation;
    private int inFlight;
    private CompletableFuture<Void> drained;
    private GuestMemory memory;
    private SplitVirtqueue serving;       // the ring of the pass in progress
    private boolean completedInPass;      // a fast-path request was pushed: interrupt after the pass
    private final IoVector iov;
    private final ByteBuffer header = ByteBuffer.allocate(BlkRequestType.HEADER_SIZE).order(ByteOrder.LITTLE_ENDIAN);
    private final Consumer<DescriptorChain> serveOne = this::serve;
    private final Runnable afterPass = this::afterPass;

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
        this.numQueues = options.numQueues();
        this.pollMaxNs = options.pollMaxNs();
        if (backend.size() % SECTOR != 0) {
            log.warn("virtio-blk {}: {} is {} bytes, not a multiple of {}; the last partial sector is not visible",
                    id, backend.describe(), backend.size(), SECTOR);
        }
        this.config = new BlkConfig(backend.size() / SECTOR, SIZE_MAX, segMax, MAX_DISCARD_SECTORS, numQueues);
        this.iov = new IoVector(Math.min(segMax, LinuxConstants.IOV_MAX));
    }

    @Override
    public void attached(Transport transport) {
        this.memory = transport.memory();
    }

    @Override
    public VirtioIdentity identity() {
        return identity;
    }

    @Override
    public long deviceFeatures() {
        long f = VirtioFeatures.bit(F_SIZE_MAX) | VirtioFeatures.bit(F_SEG_MAX) | VirtioFeatures.bit(F_BLK_SIZE)
                | VirtioFeatures.bit(F_FLUSH) | VirtioFeatures.bit(F_DISCARD) | VirtioFeatures.bit(F_WRITE_ZEROES);
        if (numQueues > 1) {
            f |= VirtioFeatures.bit(F_MQ);
        }
        return backend.readOnly() ? f | VirtioFeatures.bit(F_RO) : f;
    }

    @Override
    public int queueCount() {
        return numQueues;
    }

    @Override
    public long pollMaxNs() {
        return pollMaxNs;
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
        SplitVirtqueue vq = activation == null || queue < 0 || queue >= numQueues ? null : activation.queue(queue);
        if (vq == null) {
            return;
        }
        serving = vq;
        vq.drain(serveOne, afterPass);
    }

    /** After each pass over the ring: one interrupt for the requests completed on the context. */
    private void afterPass() {
        if (completedInPass) {
            completedInPass = false;
            serving.notifyGuest();
        }
    }

    /** Parses one request; completes it here if the fast path can, else starts its I/O. */
    private void serve(DescriptorChain chain) {
        if (chain.writableLength() < 1) {
            throw new VirtioFault("queue " + serving.index() + ": request " + chain.head() + " has no device-writable status byte");
        }
        if (chain.readableLength() < BlkRequestType.HEADER_SIZE) {
            throw new VirtioFault("queue " + serving.index() + ": request " + chain.head() + " has a " + chain.readableLength()
                    + "-byte device-readable header, expected " + BlkRequestType.HEADER_SIZE);
        }
        int type;
        long sector;
        if (chain.readableSize(0) >= BlkRequestType.HEADER_SIZE) {   // the usual layout: no copy
            long at = chain.readableAddress(0);
            type = memory.read32(at);
            sector = memory.read64(at + 8);
        } else {
            header.clear();
            chain.copyFromReadable(0, header);
            type = header.getInt(0);
            sector = header.getLong(8);
        }
        if ((type == BlkRequestType.IN || type == BlkRequestType.OUT) && completeNow(chain, type, sector)) {
            return;
        }
        start(serving, chain, type, sector);
    }

    /**
     * The fast path: a read or write the backend can do at once, done and completed on the
     * context with no object allocated. False leaves the request to {@link #start}, which also
     * refuses what is wrong with it.
     */
    private boolean completeNow(DescriptorChain chain, int type, long sector) {
        boolean read = type == BlkRequestType.IN;
        long length = read ? chain.writableLength() - 1 : chain.readableLength() - BlkRequestType.HEADER_SIZE;
        if (length == 0 || length > INLINE_MAX_BYTES || transferRefusal(read, sector, length) != null
                || !fill(chain, read, length)) {
            return false;
        }
        long position = sector * SECTOR;
        if (!(read ? backend.tryReadNow(iov, position) : backend.tryWriteNow(iov, position))) {
            return false;
        }
        metrics.started(type);
        metrics.completed(type, BlkRequestType.S_OK, length);
        int last = chain.writableCount() - 1;
        memory.write8(chain.writableAddress(last) + chain.writableSize(last) - 1, BlkRequestType.S_OK);
        serving.push(chain, read ? (int) length + 1 : 1);
        completedInPass = true;
        return true;
    }

    /**
     * The I/O vector of a transfer: host addresses of the data buffers (the writable part before
     * the status byte for a read, the readable part after the header for a write). False if the
     * request breaks a limit (seg_max, size_max, the vector's size): the slow path refuses it.
     */
    private boolean fill(DescriptorChain chain, boolean read, long length) {
        iov.clear();
        long skip = read ? 0 : BlkRequestType.HEADER_SIZE;
        long left = length;
        int count = read ? chain.writableCount() : chain.readableCount();
        for (int i = 0; i < count && left > 0; i++) {
            int size = read ? chain.writableSize(i) : chain.readableSize(i);
            if (skip >= size) {
                skip -= size;
                continue;
            }
            int take = (int) Math.min(size - skip, left);
            long gpa = (read ? chain.writableAddress(i) : chain.readableAddress(i)) + skip;
            if (take > SIZE_MAX || iov.count() == segMax || !iov.add(memory.hostAddress(gpa, take), take)) {
                return false;
            }
            left -= take;
            skip = 0;
        }
        return left == 0;
    }

    /** Why a transfer is refused (IOERR), or null: read-only, not whole sectors, beyond the capacity. */
    private String transferRefusal(boolean read, long sector, long length) {
        if (!read && backend.readOnly()) {
            return "write to a read-only drive";
        }
        if (length % SECTOR != 0) {
            return "length " + length + " is not a multiple of " + SECTOR;
        }
        long position = sector * SECTOR;
        if (sector < 0 || position / SECTOR != sector || position + length > backend.size() - backend.size() % SECTOR) {
            return "sectors " + sector + "+" + length / SECTOR + " beyond the capacity " + backend.size() / SECTOR;
        }
        return null;
    }

    /** Starts a request's I/O on the backend; the completion returns to the context. */
    private void start(SplitVirtqueue vq, DescriptorChain chain, int type, long sector) {
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
        String refused = transferRefusal(read, sector, length);
        if (refused == null && parts.size() > segMax) {
            refused = parts.size() + " data segments exceed seg_max " + segMax;
        }
        if (refused != null) {
            return CompletableFuture.failedFuture(new RequestError(refused));
        }
        long position = sector * SECTOR;
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
