package io.jvmm.emulator.vfiouser;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import jnr.constants.platform.Errno;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Server-to-client DMA: DMA_READ and DMA_WRITE requests for client memory that DMA_MAP described
 * without an fd. Requests go out on the session's socket and the session's reader hands the
 * replies back here by message id. Transfers larger than the client's max_data_xfer_size are
 * split. Callable from any thread except the session's reader (which must stay free to read the
 * reply): that would deadlock, so it is refused.
 */
public final class ClientDma {
    private static final Logger log = LoggerFactory.getLogger(ClientDma.class);
    private static final int RW_HEADER = 16;   // address (8) + count (8)

    private final String deviceId;
    private final MessageChannel channel;
    private final ClientMemory memory;
    private final long maxTransfer;
    private final Duration timeout;
    private final Thread reader;
    private final AtomicInteger nextId = new AtomicInteger();
    private final Map<Integer, CompletableFuture<VfioUserMessage>> pending = new ConcurrentHashMap<>();
    private volatile boolean closed;

    ClientDma(String deviceId, MessageChannel channel, ClientMemory memory, long maxTransfer, Duration timeout, Thread reader) {
        this.deviceId = deviceId;
        this.channel = channel;
        this.memory = memory;
        this.maxTransfer = maxTransfer;
        this.timeout = timeout;
        this.reader = reader;
    }

    /** Reads {@code dst.length} bytes of client memory at {@code address}. */
    public void read(long address, byte[] dst) {
        check(address, dst.length, "DMA_READ");
        for (int done = 0; done < dst.length; ) {
            int n = (int) Math.min(maxTransfer, dst.length - done);
            ByteBuffer request = ByteBuffer.allocate(RW_HEADER).order(ByteOrder.LITTLE_ENDIAN)
                    .putLong(address + done).putLong(n).flip();
            VfioUserMessage reply = exchange(VfioUserCommand.DMA_READ, request);
            if (reply.payloadSize() != RW_HEADER + n || reply.u64(8) != n) {
                throw new VfioUserException(Errno.EIO, String.format("%s: DMA_READ reply at 0x%x carries %d bytes, expected %d",
                        deviceId, address + done, reply.payloadSize() - RW_HEADER, n));
            }
            reply.payload().get(RW_HEADER, dst, done, n);
            done += n;
        }
    }

    /** Writes {@code src} to client memory at {@code address}. */
    public void write(long address, byte[] src) {
        check(address, src.length, "DMA_WRITE");
        for (int done = 0; done < src.length; ) {
            int n = (int) Math.min(maxTransfer, src.length - done);
            ByteBuffer request = ByteBuffer.allocate(RW_HEADER + n).order(ByteOrder.LITTLE_ENDIAN)
                    .putLong(address + done).putLong(n).put(src, done, n).flip();
            exchange(VfioUserCommand.DMA_WRITE, request);
            done += n;
        }
    }

    private void check(long address, int length, String what) {
        if (Thread.currentThread() == reader) {
            throw new IllegalStateException(deviceId + ": " + what + " from the vfio-user reader thread would wait for itself");
        }
        if (length <= 0) {
            throw new IllegalArgumentException(deviceId + ": " + what + " of " + length + " bytes");
        }
        ClientMemory.Mapping m = memory.find(address, length).orElseThrow(() -> new VfioUserException(Errno.EFAULT,
                String.format("%s: %s [0x%x-0x%x) is not inside one DMA_MAP range", deviceId, what, address, address + length)));
        if (what.equals("DMA_WRITE") && (m.flags() & ClientMemory.FLAG_WRITE) == 0) {
            throw new VfioUserException(Errno.EPERM, String.format("%s: DMA_WRITE to read-only range %s", deviceId, m));
        }
    }

    private VfioUserMessage exchange(VfioUserCommand command, ByteBuffer payload) {
        if (closed) {
            throw new VfioUserException(Errno.ENOTCONN, deviceId + ": the vfio-user client is gone");
        }
        int id = nextId.getAndIncrement() & 0xffff;
        CompletableFuture<VfioUserMessage> reply = new CompletableFuture<>();
        pending.put(id, reply);
        try {
            channel.send(VfioUserHeader.command(id, command, VfioUserHeader.SIZE + payload.remaining(), false), payload);
            VfioUserMessage m = reply.get(timeout.toNanos(), TimeUnit.NANOSECONDS);
            if (m.header().isError()) {
                throw new VfioUserException(m.header().error(), String.format("%s: the client refused %s: %s", deviceId,
                        command, VfioUserException.errnoName(m.header().error())));
            }
            return m;
        } catch (TimeoutException e) {
            throw new VfioUserException(Errno.ETIMEDOUT, deviceId + ": no reply to " + command + " within " + timeout.toMillis() + " ms");
        } catch (ExecutionException e) {
            throw new VfioUserException(Errno.ENOTCONN, deviceId + ": " + command + " failed: " + e.getCause().getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new VfioUserException(Errno.EINTR, deviceId + ": interrupted waiting for the reply to " + command);
        } finally {
            pending.remove(id);
        }
    }

    /** A reply from the client (called by the reader); false if nobody waits for that id. */
    boolean complete(VfioUserMessage reply) {
        CompletableFuture<VfioUserMessage> f = pending.remove(reply.header().id());
        if (f == null) {
            log.warn("{}: reply {} matches no request of ours; dropped", deviceId, reply.header());
            return false;
        }
        f.complete(reply);
        return true;
    }

    /** The connection ended: every waiter fails at once. */
    void close() {
        closed = true;
        pending.values().forEach(f -> f.completeExceptionally(new IllegalStateException("the connection closed")));
        pending.clear();
    }
}
