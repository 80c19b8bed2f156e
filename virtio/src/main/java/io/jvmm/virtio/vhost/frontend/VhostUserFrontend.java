package io.jvmm.virtio.vhost.frontend;

import io.jvmm.chardev.EventFd;
import io.jvmm.chardev.SocketChardevSpec;
import io.jvmm.pci.mem.GuestMemory;
import io.jvmm.pci.mem.MemoryRegion;
import io.jvmm.virtio.vhost.DeviceConfig;
import io.jvmm.virtio.vhost.MemoryRegionInfo;
import io.jvmm.virtio.vhost.MemoryTable;
import io.jvmm.virtio.vhost.PayloadKind;
import io.jvmm.virtio.vhost.Payloads;
import io.jvmm.virtio.vhost.ProtocolFeatures;
import io.jvmm.virtio.vhost.VhostUserException;
import io.jvmm.virtio.vhost.VhostUserMessage;
import io.jvmm.virtio.vhost.VhostUserRequest;
import io.jvmm.virtio.vhost.VringAddress;
import io.jvmm.virtio.vhost.VringFd;
import io.jvmm.virtio.vhost.VringState;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The vhost-user front-end protocol over one {@link VhostUserConnection}: the session handshake
 * and one typed method per message.
 *
 * <p>Acknowledged messages (rule 1): a method with {@code ack = true} returns a future that
 * completes only once the back-end has processed the message: the message carries NEED_REPLY
 * when REPLY_ACK is negotiated (a non-zero reply fails the future), and is otherwise followed by
 * a GET_FEATURES round trip (the back-end handles messages in order, so that reply proves the
 * message before it was handled). With {@code ack = false} the message is fire-and-forget, as
 * QEMU sent these messages before its fixes: the future completes once the message is written to
 * the socket, which says nothing of the back-end having read it.
 *
 * <p>Every method only queues and sends; none blocks (except {@link #negotiate}, which runs
 * before the device exists). Futures complete on the connection's reader thread.
 */
public final class VhostUserFrontend implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(VhostUserFrontend.class);

    private final VhostUserConnection connection;
    private volatile long backendFeatures;
    private volatile long protocolFeatures;
    private volatile boolean protocolFeaturesNegotiated;

    public VhostUserFrontend(VhostUserConnection connection) {
        this.connection = connection;
    }

    /** Connects through a socket chardev (see {@link VhostUserConnection#open}). */
    public static VhostUserFrontend connect(String owner, SocketChardevSpec spec, Duration replyTimeout) {
        return new VhostUserFrontend(VhostUserConnection.open(owner, spec, replyTimeout));
    }

    public VhostUserConnection connection() {
        return connection;
    }

    public String peer() {
        return connection.peer();
    }

    /** Features the back-end offered (GET_FEATURES at the handshake). */
    public long backendFeatures() {
        return backendFeatures;
    }

    /** Protocol features both sides agreed on (0 if the back-end has none). */
    public long protocolFeatures() {
        return protocolFeatures;
    }

    /** Whether VHOST_USER_F_PROTOCOL_FEATURES was negotiated: rings then start disabled. */
    public boolean protocolFeaturesNegotiated() {
        return protocolFeaturesNegotiated;
    }

    public boolean hasProtocolFeature(int bit) {
        return ProtocolFeatures.has(protocolFeatures, bit);
    }

    /** See {@link VhostUserConnection#deferSending()}. */
    public VhostUserConnection.DeferredSending deferSending() {
        return connection.deferSending();
    }

    // ---------------------------------------------------------------- handshake

    /**
     * The session handshake, synchronously (rule 6: before the device exists): GET_FEATURES,
     * GET/SET_PROTOCOL_FEATURES when the back-end has bit 30 (agreeing on {@code wanted} and what
     * it offers), GET_QUEUE_NUM when MQ is agreed (at least {@code queues} needed), SET_OWNER.
     *
     * @throws VhostUserException naming the peer and the step that failed or timed out
     */
    public void negotiate(long wantedProtocolFeatures, int queues) {
        Duration timeout = connection.replyTimeout();
        backendFeatures = await(getFeatures(), timeout, "GET_FEATURES");
        if ((backendFeatures & (1L << ProtocolFeatures.F_PROTOCOL_FEATURES)) != 0) {
            long offered = await(u64Call(VhostUserRequest.GET_PROTOCOL_FEATURES, "GET_PROTOCOL_FEATURES"), timeout,
                    "GET_PROTOCOL_FEATURES");
            long agreed = offered & wantedProtocolFeatures;
            // Sent before REPLY_ACK is in force, so its own acknowledgement is a GET_FEATURES round trip.
            connection.post(request(VhostUserRequest.SET_PROTOCOL_FEATURES, false, Payloads.u64(agreed)),
                    "SET_PROTOCOL_FEATURES " + ProtocolFeatures.describe(agreed));
            await(getFeatures(), timeout, "GET_FEATURES after SET_PROTOCOL_FEATURES");
            protocolFeatures = agreed;
            protocolFeaturesNegotiated = true;
            log.debug("{}: protocol features offered {}, agreed {}", peer(), ProtocolFeatures.describe(offered),
                    ProtocolFeatures.describe(agreed));
        }
        if (hasProtocolFeature(ProtocolFeatures.MQ)) {
            long max = await(u64Call(VhostUserRequest.GET_QUEUE_NUM, "GET_QUEUE_NUM"), timeout, "GET_QUEUE_NUM");
            if (max < queues) {
                throw new VhostUserException(peer() + ": the back-end supports " + max + " queues, the device needs " + queues);
            }
        }
        await(setOwner(), timeout, "SET_OWNER");
    }

    private <T> T await(CompletableFuture<T> f, Duration timeout, String what) {
        connection.letControllerComplete(f, timeout, what);
        try {
            return f.get(timeout.toMillis() + 1000, TimeUnit.MILLISECONDS);   // the connection's own deadline fires first
        } catch (ExecutionException e) {
            Throwable c = e.getCause();
            throw c instanceof VhostUserException v ? v : new VhostUserException(peer() + ": " + what + " failed: " + c, c);
        } catch (TimeoutException e) {
            connection.fail("no reply to " + what + " within " + timeout.toMillis() + " ms");
            throw new VhostUserException(peer() + ": no reply to " + what + " within " + timeout.toMillis() + " ms");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new VhostUserException(peer() + ": interrupted waiting for " + what, e);
        }
    }

    // ---------------------------------------------------------------- messages

    public CompletableFuture<Long> getFeatures() {
        return u64Call(VhostUserRequest.GET_FEATURES, "GET_FEATURES");
    }

    /** SET_FEATURES; VHOST_USER_F_PROTOCOL_FEATURES is added when it was negotiated. */
    public CompletableFuture<Void> setFeatures(long features, boolean ack) {
        long f = features | (protocolFeaturesNegotiated ? 1L << ProtocolFeatures.F_PROTOCOL_FEATURES : 0);
        return acked(VhostUserRequest.SET_FEATURES, Payloads.u64(f), ack, "SET_FEATURES 0x" + Long.toHexString(f));
    }

    public CompletableFuture<Void> setOwner() {
        return acked(VhostUserRequest.SET_OWNER, null, true, "SET_OWNER");
    }

    /**
     * SET_MEM_TABLE with every region of {@code memory}: guest address, size, this process's
     * address of the mapping and the memfd with its offset (always acknowledged).
     *
     * @throws VhostUserException if memory has more regions than one table carries
     */
    public CompletableFuture<Void> setMemTable(GuestMemory memory) {
        List<MemoryRegion> regions = memory.regions();
        if (regions.size() > MemoryTable.MAX_REGIONS) {
            throw new VhostUserException(peer() + ": guest memory has " + regions.size() + " regions, SET_MEM_TABLE carries at most "
                    + MemoryTable.MAX_REGIONS);
        }
        List<MemoryRegionInfo> infos = new ArrayList<>();
        int[] fds = new int[regions.size()];
        for (int i = 0; i < regions.size(); i++) {
            MemoryRegion r = regions.get(i);
            infos.add(new MemoryRegionInfo(r.base(), r.size(), r.memory().address(), r.memory().fdOffset()));
            fds[i] = r.memory().fd();
        }
        MemoryTable table = new MemoryTable(infos);
        return acked(VhostUserRequest.SET_MEM_TABLE, table.encode(), fds, true, "SET_MEM_TABLE (" + infos.size() + " regions)");
    }

    public CompletableFuture<Void> setVringNum(int index, int size, boolean ack) {
        return acked(VhostUserRequest.SET_VRING_NUM, new VringState(index, size).encode(), ack,
                "SET_VRING_NUM (vring " + index + ", " + size + ")");
    }

    public CompletableFuture<Void> setVringBase(int index, int base, boolean ack) {
        return acked(VhostUserRequest.SET_VRING_BASE, new VringState(index, base).encode(), ack,
                "SET_VRING_BASE (vring " + index + ", " + base + ")");
    }

    public CompletableFuture<Void> setVringAddr(VringAddress address, boolean ack) {
        return acked(VhostUserRequest.SET_VRING_ADDR, address.encode(), ack, "SET_VRING_ADDR (vring " + address.index() + ")");
    }

    /** GET_VRING_BASE: stops the ring and returns the next available index the back-end would take. */
    public CompletableFuture<Integer> getVringBase(int index) {
        String what = "GET_VRING_BASE (vring " + index + ")";
        return connection.call(request(VhostUserRequest.GET_VRING_BASE, false, new VringState(index, 0).encode()),
                PayloadKind.VRING_STATE, what).thenApply(reply -> {
                    VringState s = VringState.decode(reply, peer());
                    if (s.index() != index || s.num() > 0xFFFF) {
                        throw new VhostUserException(peer() + ": reply to " + what + " names vring " + s.index() + " with base " + s.num());
                    }
                    return (int) s.num();
                });
    }

    /** SET_VRING_KICK with {@code fd}, or with the no-fd flag (polling) when fd is null. */
    public CompletableFuture<Void> setVringKick(int index, EventFd fd, boolean ack) {
        return vringFd(VhostUserRequest.SET_VRING_KICK, index, fd, ack, "");
    }

    /** SET_VRING_CALL; {@code note} says which notifier it is, for logs and errors. */
    public CompletableFuture<Void> setVringCall(int index, EventFd fd, boolean ack, String note) {
        return vringFd(VhostUserRequest.SET_VRING_CALL, index, fd, ack, note);
    }

    public CompletableFuture<Void> setVringErr(int index, EventFd fd, boolean ack) {
        return vringFd(VhostUserRequest.SET_VRING_ERR, index, fd, ack, "");
    }

    private CompletableFuture<Void> vringFd(VhostUserRequest type, int index, EventFd fd, boolean ack, String note) {
        byte[] payload = new VringFd(index, fd == null).encode();
        int[] fds = fd == null ? new int[0] : new int[] {fd.fd()};
        String what = type + " (vring " + index + (fd == null ? ", no fd" : ", eventfd " + fd.fd())
                + (note.isEmpty() ? "" : ", " + note) + ")";
        return acked(type, payload, fds, ack, what);
    }

    public CompletableFuture<Void> setVringEnable(int index, boolean enable, boolean ack) {
        return acked(VhostUserRequest.SET_VRING_ENABLE, new VringState(index, enable ? 1 : 0).encode(), ack,
                "SET_VRING_ENABLE (vring " + index + ", " + (enable ? 1 : 0) + ")");
    }

    /** GET_CONFIG of [offset, offset+size); fails if the back-end answers with an empty payload (its error signal). */
    public CompletableFuture<byte[]> getConfig(int offset, int size) {
        String what = "GET_CONFIG (offset " + offset + ", " + size + " bytes)";
        DeviceConfig window = new DeviceConfig(offset, 0, new byte[size]);
        return connection.call(request(VhostUserRequest.GET_CONFIG, false, window.encode()), PayloadKind.CONFIG, what)
                .thenApply(reply -> {
                    if (reply.payload().length == 0) {
                        throw new VhostUserException(peer() + ": back-end failed " + what + " (empty reply)");
                    }
                    DeviceConfig c = DeviceConfig.decode(reply, peer());
                    if (c.offset() != offset || c.size() != size) {
                        throw new VhostUserException(peer() + ": reply to " + what + " is the window at " + c.offset()
                                + " of " + c.size() + " bytes");
                    }
                    return c.data();
                });
    }

    public CompletableFuture<Void> setConfig(int offset, byte[] data, boolean ack) {
        return acked(VhostUserRequest.SET_CONFIG, new DeviceConfig(offset, 0, data).encode(), ack,
                "SET_CONFIG (offset " + offset + ", " + data.length + " bytes)");
    }

    /**
     * Resets the back-end's device state: RESET_DEVICE when negotiated, otherwise the deprecated
     * RESET_OWNER followed by SET_OWNER (some back-ends forget their owner on RESET_OWNER).
     */
    public CompletableFuture<Void> resetDevice() {
        if (hasProtocolFeature(ProtocolFeatures.RESET_DEVICE)) {
            return acked(VhostUserRequest.RESET_DEVICE, null, true, "RESET_DEVICE");
        }
        CompletableFuture<Void> reset = acked(VhostUserRequest.RESET_OWNER, null, true, "RESET_OWNER");
        CompletableFuture<Void> owner = setOwner();
        return CompletableFuture.allOf(reset, owner);
    }

    // ---------------------------------------------------------------- plumbing

    private CompletableFuture<Long> u64Call(VhostUserRequest type, String what) {
        return connection.call(request(type, false, null), PayloadKind.U64, what)
                .thenApply(reply -> Payloads.decodeU64(reply, peer()));
    }

    private CompletableFuture<Void> acked(VhostUserRequest type, byte[] payload, boolean ack, String what) {
        return acked(type, payload, new int[0], ack, what);
    }

    private CompletableFuture<Void> acked(VhostUserRequest type, byte[] payload, int[] fds, boolean ack, String what) {
        if (!ack) {
            return connection.postAndTrack(request(type, false, payload, fds), what);
        }
        if (hasProtocolFeature(ProtocolFeatures.REPLY_ACK)) {
            return connection.call(request(type, true, payload, fds), PayloadKind.U64, what).thenApply(reply -> {
                long status = Payloads.decodeU64(reply, peer());
                if (status != 0) {
                    throw new VhostUserException(peer() + ": back-end refused " + what + " (status " + status + ")");
                }
                return null;
            });
        }
        connection.post(request(type, false, payload, fds), what);
        return connection.call(request(VhostUserRequest.GET_FEATURES, false, null), PayloadKind.U64,
                "GET_FEATURES (acknowledging " + what + ")").thenApply(reply -> null);
    }

    private static VhostUserMessage request(VhostUserRequest type, boolean needReply, byte[] payload, int... fds) {
        return VhostUserMessage.request(type, needReply, payload, fds);
    }

    @Override
    public void close() {
        connection.close();
    }

    @Override
    public String toString() {
        return "VhostUserFrontend[" + peer() + "]";
    }
}
