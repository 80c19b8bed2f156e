package io.jvmm.devices.ivshmem;

import io.jvmm.chardev.EventContext;
import io.jvmm.chardev.EventFd;
import io.jvmm.chardev.Registration;
import io.jvmm.chardev.SharedMemory;
import io.jvmm.chardev.UnixSocketChannel;
import io.jvmm.devices.ivshmem.IvshmemProtocol.Message;
import io.jvmm.devices.ivshmem.IvshmemProtocol.ServerClosedException;
import io.jvmm.pci.BarDefinition;
import io.jvmm.pci.IoEvent;
import io.jvmm.pci.dispatch.IoCompletion;
import io.jvmm.pci.dispatch.IoHandler;
import io.jvmm.pci.msix.GuestNotifiers;
import io.jvmm.pci.msix.Msix;
import io.jvmm.pci.msix.SignalResult;
import io.jvmm.platform.MachineServices;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code ivshmem-doorbell}: an {@link IvshmemDevice} whose memory and eventfds come from an ivshmem
 * server, with MSI-X in BAR1 (table at 0, PBA at 2048 for up to 128 vectors, as QEMU's exclusive
 * MSI-X BAR).
 *
 * <p>Rule 6: {@link #realize} finishes the server's setup (version, our id, the shared memory)
 * before the device exists, within the chardev's timeout; on any failure nothing is left open.
 * {@code x-async-setup=on} brings back QEMU's pre-2.6 behaviour for experiments: the device is
 * built at once with IVPosition -1 and a BAR2 that has no memory behind it until the server
 * answers (reads see 0, writes are lost and counted).
 *
 * <p>Everything the server sends afterwards (peers' eventfds, our own, joins and leaves) is read
 * and applied on the device's event context. Each peer eventfd (our own included, so a guest can
 * ring itself as in QEMU) becomes an {@link IoEvent} matching a 4-byte Doorbell write of
 * {@code peer << 16 | vector}: a KVM ioeventfd with datamatch, so a doorbell never leaves the
 * kernel; in machines without one the trapped write is matched and the eventfd signalled. A write
 * that no event takes (unknown peer or vector) is counted and dropped, as QEMU does. Our own
 * eventfds are connected to their MSI-X vectors through the machine
 * ({@link GuestNotifiers#connect}): under KVM each is an irqfd on its vector's route while the
 * vector is unmasked (no Java on the path), elsewhere it is watched on the context and raises the
 * vector through {@link Msix#signal}; either way masking follows rule 2 (the PBA bit is set while
 * masked, one delivery on unmask), and with MSI-X disabled a signal is dropped, as in QEMU.
 */
public final class IvshmemDoorbellDevice extends IvshmemDevice {
    private static final Logger log = LoggerFactory.getLogger(IvshmemDoorbellDevice.class);
    /** Most peer eventfds held at once (each is an fd): a server cannot make us open more. */
    static final int MAX_EVENTFDS = 16384;
    /** How long after the setup to say which of our vectors the server gave no eventfd. */
    static final Duration SILENT_VECTOR_CHECK = Duration.ofSeconds(2);

    private final int vectors;
    private final String server;
    private final IvshmemMetrics metrics;
    private final EventContext context;
    private final Msix msix;
    private final GuestNotifiers notifiers;
    /** Peers by id; changed only on the context, read by vCPUs ringing doorbells. */
    private final Map<Integer, Peer> peers = new ConcurrentHashMap<>();
    private final Object setupLock = new Object();
    private volatile SharedMemory asyncMemory;
    private volatile String asyncFailure;
    private volatile boolean serverGone;
    // the server connection; touched on the context (and by close)
    private UnixSocketChannel channel;
    private IvshmemProtocol.Reader reader;
    private Registration serverWatch;
    private int eventFds;
    private boolean closed;

    /** One peer's eventfds, vector by vector, and the I/O events ringing them. */
    private static final class Peer {
        final int id;
        final List<EventFd> fds = new CopyOnWriteArrayList<>();
        final List<IoEvent> events = new ArrayList<>();
        final List<Registration> watches = new ArrayList<>();
        boolean warnedExtra;

        Peer(int id) {
            this.id = id;
        }
    }

    private IvshmemDoorbellDevice(IvshmemDoorbellOptions options, MachineServices services, SharedMemory memory, int position) {
        super(options.id(), memory, true, position);
        this.vectors = options.vectors();
        this.server = "the ivshmem server on chardev '" + options.chardev().id() + "' (" + options.chardev().path() + ")";
        this.metrics = new IvshmemMetrics(services.meters(), options.id());
        if (memory == null) {
            defineMemoryBar(BarDefinition.mem64(options.asyncSize(), true, new AsyncMemoryBar()));
        }
        this.context = EventContext.start("ivshmem-" + options.id());
        try {
            this.msix = services.msix(options.id(), vectors, context);
            this.notifiers = services.guestNotifiers();
            long pbaOffset = Math.max(2048, (long) vectors * Msix.ENTRY_SIZE);
            long barSize = Math.max(4096, Long.highestOneBit(pbaOffset + msix.pbaSize() - 1) << 1);
            defineBar(MSIX_BAR, BarDefinition.mem32(barSize, new MsixRegion(pbaOffset)));
            msix.install(this, MSIX_BAR, 0, MSIX_BAR, pbaOffset);
        } catch (RuntimeException e) {
            context.close();
            throw e;
        }
    }

    /**
     * Builds the device: with the server's setup done first (rule 6), or, with
     * {@code x-async-setup=on}, done afterwards on the device's context.
     *
     * @throws IvshmemSetupException naming the server and what went wrong; nothing is left open
     */
    public static IvshmemDoorbellDevice realize(IvshmemDoorbellOptions options, MachineServices services) {
        String who = IvshmemDoorbellType.DRIVER + " '" + options.id() + "'";
        Duration timeout = options.chardev().connectTimeout();
        if (options.asyncSetup()) {
            IvshmemDoorbellDevice device = new IvshmemDoorbellDevice(options, services, null, -1);
            log.warn("{}: x-async-setup=on: the server's setup runs after the device is built (rule 6 off); the guest may see "
                    + "IVPosition -1 and a BAR2 without memory", who);
            device.context.execute("ivshmem setup", () -> device.asyncSetup(who, options, timeout));
            return device;
        }
        IvshmemServerConnection.Setup setup = IvshmemServerConnection.setup(who, options.chardev(), timeout);
        IvshmemDoorbellDevice device;
        try {
            device = new IvshmemDoorbellDevice(options, services, setup.memory(), setup.id());
        } catch (RuntimeException e) {
            setup.early().forEach(IvshmemServerConnection::closeFd);
            setup.channel().close();
            setup.memory().close();
            throw e;
        }
        device.context.execute("ivshmem server messages", () -> device.connected(setup));
        log.info("{}: id {} from {}, {} bytes of shared memory, {} vectors", who, setup.id(), device.server, setup.memory().size(),
                options.vectors());
        return device;
    }

    private void asyncSetup(String who, IvshmemDoorbellOptions options, Duration timeout) {
        IvshmemServerConnection.Setup setup;
        try {
            setup = IvshmemServerConnection.setup(who, options.chardev(), timeout);
        } catch (IvshmemSetupException e) {
            asyncFailure = e.getMessage();
            log.error("{} (x-async-setup=on: the device stays without memory, IVPosition -1)", e.getMessage());
            return;
        }
        synchronized (setupLock) {
            if (closed) {
                setup.early().forEach(IvshmemServerConnection::closeFd);
                setup.channel().close();
                setup.memory().close();
                return;
            }
            if (setup.memory().size() != options.asyncSize()) {
                log.warn("{}: the server shares {} bytes but BAR2 was sized {} (size=) before they arrived; the guest sees {}", who,
                        setup.memory().size(), options.asyncSize(), Math.min(setup.memory().size(), options.asyncSize()));
            }
            asyncMemory = setup.memory();
        }
        setPosition(setup.id());
        connected(setup);
    }

    /** On the context: takes over the server connection and applies what came before the memory. */
    private void connected(IvshmemServerConnection.Setup setup) {
        synchronized (setupLock) {
            if (closed) {
                setup.early().forEach(IvshmemServerConnection::closeFd);
                setup.channel().close();
                return;
            }
            channel = setup.channel();
            reader = setup.reader();
        }
        for (Message m : setup.early()) {
            apply(m);
        }
        serverWatch = context.addReadable(channel.fd(), id() + " ivshmem server", this::readServer);
        context.schedule(SILENT_VECTOR_CHECK, "ivshmem silent vectors", this::checkSilentVectors);
    }

    private void readServer() {
        Message m;
        try {
            m = reader.readSome();
        } catch (ServerClosedException e) {
            log.warn("{}: {} {}; the peers we know keep working, but joins and leaves are no longer seen", id(), server, e.getMessage());
            disconnectServer();
            return;
        } catch (RuntimeException e) {
            log.error("{}: reading from {} failed: {}; joins and leaves are no longer seen", id(), server, e.toString());
            disconnectServer();
            return;
        }
        if (m != null) {
            apply(m);
        }
    }

    private void disconnectServer() {
        serverGone = true;
        if (serverWatch != null) {
            serverWatch.cancel();
        }
        reader.discard();
        channel.close();
    }

    /** On the context: one message after the setup. */
    private void apply(Message m) {
        if (m.extraFds() > 0) {
            log.warn("{}: {} sent {} fds with one message ({}); closed all but the first", id(), server, m.extraFds() + 1, m.value());
            metrics.badMessage();
        }
        if (m.value() == IvshmemProtocol.SHARED_MEMORY) {
            log.warn("{}: {} sent the shared memory again; ignored", id(), server);
            metrics.badMessage();
            IvshmemServerConnection.closeFd(m);
            return;
        }
        if (m.value() < 0 || m.value() > IvshmemProtocol.MAX_ID) {
            log.warn("{}: {} sent an invalid message {}; ignored", id(), server, m.value());
            metrics.badMessage();
            IvshmemServerConnection.closeFd(m);
            return;
        }
        int peer = (int) m.value();
        if (m.hasFd()) {
            join(peer, m.fd());
        } else {
            leave(peer);
        }
    }

    private void join(int peerId, int fd) {
        EventFd eventFd;
        try {
            eventFd = EventFd.adopt(fd);
        } catch (RuntimeException e) {
            log.warn("{}: {} sent peer {} an fd that is not an eventfd ({}); ignored", id(), server, peerId, e.getMessage());
            metrics.badMessage();
            return;
        }
        Peer peer = peers.computeIfAbsent(peerId, Peer::new);
        if (peer.fds.size() >= vectors) {
            if (!peer.warnedExtra) {
                peer.warnedExtra = true;
                log.warn("{}: {} sent {} eventfds beyond our {} vectors (configure vectors= like the server's --vectors); closed",
                        id(), server, peerId == position() ? "us" : "peer " + peerId, vectors);
            }
            metrics.extraEventFd();
            eventFd.close();
            return;
        }
        if (eventFds >= MAX_EVENTFDS) {
            log.warn("{}: {} sent more than {} peer eventfds; closed peer {}'s", id(), server, MAX_EVENTFDS, peerId);
            metrics.badMessage();
            eventFd.close();
            return;
        }
        int vector = peer.fds.size();
        IoEvent event = IoEvent.matching(REGISTER_BAR, DOORBELL, 4, ((long) peerId << 16) | vector, eventFd);
        try {
            addIoEvent(event);
        } catch (RuntimeException e) {
            log.warn("{}: cannot bind the doorbell of peer {} vector {}: {}", id(), peerId, vector, e.getMessage());
            eventFd.close();
            return;
        }
        peer.fds.add(eventFd);
        peer.events.add(event);
        eventFds++;
        if (peerId == position()) {
            peer.watches.add(notifiers.connect(msix, vector, eventFd, context, this::interrupted));
            log.debug("{}: our vector {} is eventfd {}", id(), vector, eventFd.fd());
        } else {
            log.debug("{}: peer {} vector {} is eventfd {}", id(), peerId, vector, eventFd.fd());
            if (vector == 0) {
                log.info("{}: peer {} joined", id(), peerId);
            }
        }
        metrics.peers(peers.size());
    }

    private void leave(int peerId) {
        if (peerId == position()) {
            log.warn("{}: {} announced that we (id {}) left; ignored", id(), server, peerId);
            metrics.badMessage();
            return;
        }
        Peer peer = peers.remove(peerId);
        if (peer == null) {
            log.warn("{}: {} announced that peer {} left, a peer we did not know; ignored", id(), server, peerId);
            metrics.badMessage();
            return;
        }
        release(peer);
        metrics.peers(peers.size());
        log.info("{}: peer {} left", id(), peerId);
    }

    private void release(Peer peer) {
        peer.watches.forEach(Registration::cancel);
        for (IoEvent e : peer.events) {
            removeIoEvent(e);
        }
        for (EventFd fd : peer.fds) {
            fd.close();
            eventFds--;
        }
    }

    private void checkSilentVectors() {
        Peer self = peers.get(position());
        int given = self == null ? 0 : self.fds.size();
        if (given < vectors) {
            log.warn("{}: {} gave eventfds for {} of our {} vectors; vectors {}..{} stay silent (start the server with --vectors {})",
                    id(), server, given, vectors, given, vectors - 1, vectors);
        }
    }

    /** On the context: {@code signals} of a peer on our eventfd went through {@link Msix#signal}. */
    private void interrupted(SignalResult result, long signals) {
        metrics.interrupt(signals);
        if (result == SignalResult.DROPPED) {
            metrics.interruptWhileDisabled();
        }
    }

    /** A Doorbell write no I/O event took: another width than 4 bytes, an unknown peer or vector. */
    @Override
    protected void doorbell(long value) {
        Peer peer = peers.get((int) (value >>> 16));
        int vector = (int) (value & 0xffff);
        List<EventFd> fds = peer == null ? List.of() : peer.fds;
        if (vector < fds.size() && fds.get(vector).trySignal(1)) {
            return;
        }
        metrics.doorbellDropped();
        log.debug("{}: doorbell to peer {} vector {}: no such peer or vector, dropped", id(), value >>> 16, vector);
    }

    // ---- what tests and metrics look at ----------------------------------------------------

    public Msix msix() {
        return msix;
    }

    public IvshmemMetrics metrics() {
        return metrics;
    }

    public int vectors() {
        return vectors;
    }

    /** The ids of the peers we hold eventfds of (ourselves included once ours arrived). */
    public List<Integer> peerIds() {
        return List.copyOf(peers.keySet());
    }

    /** How many of {@code peerId}'s vectors we can ring. */
    public int peerVectors(int peerId) {
        Peer p = peers.get(peerId);
        return p == null ? 0 : p.fds.size();
    }

    /** Whether the server closed the connection (peers keep working; joins and leaves are no longer seen). */
    public boolean serverGone() {
        return serverGone;
    }

    /** With x-async-setup=on: why the setup failed, or null. */
    public String asyncFailure() {
        return asyncFailure;
    }

    @Override
    public SharedMemory memory() {
        SharedMemory m = super.memory();
        return m != null ? m : asyncMemory;
    }

    @Override
    public void close() {
        synchronized (setupLock) {
            closed = true;
        }
        context.close();
        if (serverWatch != null) {
            serverWatch.cancel();
        }
        if (channel != null) {
            channel.close();
        }
        if (reader != null) {
            reader.discard();
        }
        for (Peer p : new ArrayList<>(peers.values())) {
            release(p);
        }
        peers.clear();
        SharedMemory m = asyncMemory;
        if (m != null) {
            m.close();
        }
        super.close();
    }

    /** BAR1: the MSI-X table at 0, the PBA at {@code pbaOffset}. */
    private final class MsixRegion implements IoHandler {
        private final long pbaOffset;

        MsixRegion(long pbaOffset) {
            this.pbaOffset = pbaOffset;
        }

        @Override
        public long read(long offset, int size) {
            if (offset >= pbaOffset) {
                return offset - pbaOffset + size <= msix.pbaSize() ? msix.pbaHandler().read(offset - pbaOffset, size) : 0;
            }
            return offset + size <= msix.tableSize() ? msix.tableHandler().read(offset, size) : 0;
        }

        @Override
        public CompletableFuture<Void> write(long offset, int size, long value) {
            if (offset < pbaOffset && offset + size <= msix.tableSize()) {
                return msix.tableHandler().write(offset, size, value);
            }
            return IoCompletion.DONE;
        }
    }

    /**
     * x-async-setup=on: BAR2 before and after the memory arrives, trapped (the old QEMU's BAR2 had
     * nothing mapped until the server answered). Before: reads see 0, writes are lost (counted).
     */
    private final class AsyncMemoryBar implements IoHandler {
        @Override
        public long read(long offset, int size) {
            SharedMemory m = asyncMemory;
            if (m == null || offset + size > m.size()) {
                return 0;
            }
            long value = 0;
            ByteBuffer w = m.window((int) (offset / SharedMemory.WINDOW_SIZE));
            for (int i = 0; i < size; i++) {
                value |= (w.get((int) ((offset + i) % SharedMemory.WINDOW_SIZE)) & 0xffL) << (8 * i);
            }
            return value;
        }

        @Override
        public CompletableFuture<Void> write(long offset, int size, long value) {
            SharedMemory m = asyncMemory;
            if (m == null || offset + size > m.size()) {
                metrics.lostWrite();
                return IoCompletion.DONE;
            }
            ByteBuffer w = m.window((int) (offset / SharedMemory.WINDOW_SIZE));
            for (int i = 0; i < size; i++) {
                w.put((int) ((offset + i) % SharedMemory.WINDOW_SIZE), (byte) (value >>> (8 * i)));
            }
            return IoCompletion.DONE;
        }
    }
}
