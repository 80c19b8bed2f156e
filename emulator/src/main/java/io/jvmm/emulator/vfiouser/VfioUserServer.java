package io.jvmm.emulator.vfiouser;

import io.jvmm.chardev.UnixServerSocket;
import io.jvmm.chardev.UnixSocketChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Serves one {@link ServedDevice} to vfio-user clients (QEMU's vfio-user-pci, Cloud Hypervisor,
 * a test) on a Unix socket: one client at a time, as the protocol wants one socket per
 * client/device; the next client is accepted when the current one has gone. Each connection runs
 * on this server's own platform thread (its commands are answered in order, as the spec requires).
 */
public final class VfioUserServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(VfioUserServer.class);

    /** Limits and timeouts of a server. */
    public record Options(int maxMsgFds, long maxDataXferSize, long drainLimit, Duration dmaTimeout) {
        public Options {
            if (maxMsgFds < 1 || maxMsgFds > 253) {
                throw new IllegalArgumentException("max_msg_fds must be 1..253, got " + maxMsgFds);
            }
            if (maxDataXferSize < 8 || maxDataXferSize > (64 << 20)) {
                throw new IllegalArgumentException("max_data_xfer_size must be 8..64 MiB, got " + maxDataXferSize);
            }
        }

        /** 16 fds and 1 MiB per message (QEMU's own limits); an oversized message of up to 64 MiB is skipped. */
        public static Options defaults() {
            return new Options(16, 1 << 20, 64L << 20, Duration.ofSeconds(10));
        }

        public Options withMaxMsgFds(int fds) {
            return new Options(fds, maxDataXferSize, drainLimit, dmaTimeout);
        }

        /** Largest message read in full: a REGION_WRITE of max_data_xfer_size bytes and some room. */
        long maxMessageSize() {
            return VfioUserHeader.SIZE + 64 + maxDataXferSize;
        }
    }

    private final ServedDevice device;
    private final Options options;
    private final UnixServerSocket listener;
    private final Thread thread;
    private final AtomicInteger sessions = new AtomicInteger();
    private volatile VfioUserSession current;
    private volatile MessageChannel currentChannel;
    private volatile boolean closed;

    private VfioUserServer(ServedDevice device, Options options, UnixServerSocket listener) {
        this.device = device;
        this.options = options;
        this.listener = listener;
        this.thread = new Thread(this::acceptLoop, "vfio-user-" + device.id());
        this.thread.setDaemon(true);
    }

    /** Listens on {@code socket} (a stale socket file is replaced) and serves clients from now on. */
    public static VfioUserServer start(Path socket, ServedDevice device, Options options) {
        Objects.requireNonNull(device, "device");
        UnixServerSocket listener = UnixServerSocket.listen(socket);
        VfioUserServer server = new VfioUserServer(device, options, listener);
        server.thread.start();
        log.info("{}: serving over vfio-user on {}", device.id(), socket);
        return server;
    }

    public static VfioUserServer start(Path socket, ServedDevice device) {
        return start(socket, device, Options.defaults());
    }

    private void acceptLoop() {
        while (!closed) {
            UnixSocketChannel connection;
            try {
                connection = listener.accept();
            } catch (RuntimeException e) {
                if (!closed) {
                    log.error("{}: accepting vfio-user clients on {} failed; the server stops", device.id(), listener.path(), e);
                }
                return;
            }
            int n = sessions.incrementAndGet();
            log.info("{}: vfio-user client #{} connected on {}", device.id(), n, listener.path());
            MessageChannel channel = new MessageChannel(connection, options.maxMessageSize(), options.drainLimit());
            VfioUserSession session = new VfioUserSession(device, channel, options);
            currentChannel = channel;
            current = session;
            if (closed) {
                channel.close();
            }
            try {
                session.run();
            } finally {
                current = null;
                currentChannel = null;
            }
        }
    }

    public Path socketPath() {
        return listener.path();
    }

    public ServedDevice device() {
        return device;
    }

    /** How many clients have connected so far. */
    public int clientsAccepted() {
        return sessions.get();
    }

    /** DMA_READ/DMA_WRITE to the current client's memory, if a client is connected. */
    public Optional<ClientDma> clientDma() {
        VfioUserSession s = current;
        return s == null ? Optional.empty() : Optional.ofNullable(s.dma());
    }

    /** Stops accepting, ends the current connection (its clean-up runs) and waits for the thread. */
    @Override
    public void close() {
        closed = true;
        listener.close();
        MessageChannel c = currentChannel;
        if (c != null) {
            c.close();
        }
        try {
            thread.join(30_000);
            if (thread.isAlive()) {
                log.warn("{}: the vfio-user server thread did not stop within 30 s", device.id());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            log.warn("{}: interrupted while waiting for the vfio-user server thread to stop", device.id());
        }
        log.info("{}: vfio-user server on {} stopped after {} clients", device.id(), listener.path(), sessions.get());
    }
}
