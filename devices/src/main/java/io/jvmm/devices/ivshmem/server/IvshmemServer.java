package io.jvmm.devices.ivshmem.server;

import io.jvmm.chardev.EventContext;
import io.jvmm.chardev.EventFd;
import io.jvmm.chardev.Registration;
import io.jvmm.chardev.SharedMemory;
import io.jvmm.chardev.UnixServerSocket;
import io.jvmm.chardev.UnixSocketChannel;
import io.jvmm.devices.ivshmem.IvshmemProtocol;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An ivshmem server speaking QEMU's protocol (docs/specs/ivshmem-spec.rst), so QEMU's
 * {@code ivshmem-doorbell} and jvmm's use it alike. For each client that connects it picks an id no
 * other client has, makes one eventfd per vector, and sends: the version (0), the id, -1 with the
 * shared memory's fd; the new client's eventfds to every other client; every other client's to the
 * new one; the new client's own (its id, once per vector). When a client goes, the others are
 * told (its id without an fd) and its eventfds are closed.
 *
 * <p>A client that misbehaves cannot disturb the others: clients never send anything, so one
 * that does, or that hangs up, is dropped; every send to a client is bounded ({@link #SEND_TIMEOUT}),
 * so one that stops reading is dropped rather than holding up the rest; at most
 * {@code maxClients} are served at once. All state lives on one event context; a thread accepts.
 *
 * <p>Its view (clients, their eventfds) is available to tests ({@link #clients}) and as meters.
 */
public final class IvshmemServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(IvshmemServer.class);
    public static final Duration SEND_TIMEOUT = Duration.ofSeconds(2);
    public static final int DEFAULT_MAX_CLIENTS = 64;

    private final UnixServerSocket listener;
    private final SharedMemory memory;
    private final boolean ownsMemory;
    private final int vectors;
    private final int maxClients;
    private final EventContext context;
    private final Thread acceptor;
    /** Clients by id; touched only on the context. */
    private final Map<Integer, Client> clients = new TreeMap<>();
    private volatile List<ClientView> view = List.of();
    private final Counter connects;
    private final Counter refused;
    private final Counter disconnects;
    private int nextId;
    private volatile boolean closed;

    /** One connected client: its id, its socket and its eventfds (one per vector). */
    private static final class Client {
        final int id;
        final UnixSocketChannel channel;
        final EventFd[] fds;
        Registration watch;

        Client(int id, UnixSocketChannel channel, EventFd[] fds) {
            this.id = id;
            this.channel = channel;
            this.fds = fds;
        }
    }

    /** What the server knows of a client: its id and its eventfds (one per vector). */
    public record ClientView(int id, List<Integer> eventFds) {
    }

    private IvshmemServer(UnixServerSocket listener, SharedMemory memory, boolean ownsMemory, int vectors, int maxClients,
                          MeterRegistry meters) {
        this.listener = listener;
        this.memory = memory;
        this.ownsMemory = ownsMemory;
        this.vectors = vectors;
        this.maxClients = maxClients;
        MeterRegistry registry = meters == null ? new SimpleMeterRegistry() : meters;
        Gauge.builder("jvmm.ivshmem.server.clients", this, s -> s.view.size()).description("clients connected")
                .tag("socket", listener.path().toString()).register(registry);
        connects = Counter.builder("jvmm.ivshmem.server.connects").description("clients accepted")
                .tag("socket", listener.path().toString()).register(registry);
        refused = Counter.builder("jvmm.ivshmem.server.refused").description("clients refused (too many, or the setup failed)")
                .tag("socket", listener.path().toString()).register(registry);
        disconnects = Counter.builder("jvmm.ivshmem.server.disconnects").description("clients gone or dropped")
                .tag("socket", listener.path().toString()).register(registry);
        this.context = EventContext.start("ivshmem-server");
        this.acceptor = new Thread(this::acceptLoop, "ivshmem-server-accept");
        this.acceptor.setDaemon(true);
    }

    /**
     * Listens on {@code socket} (owner-only, 0600) and serves {@code memory} with {@code vectors}
     * eventfds per client.
     *
     * @param ownsMemory whether {@link #close} closes the memory
     */
    public static IvshmemServer start(Path socket, SharedMemory memory, boolean ownsMemory, int vectors, int maxClients,
                                      MeterRegistry meters) {
        Objects.requireNonNull(memory, "memory");
        if (vectors < 1 || vectors > 1024) {
            throw new IllegalArgumentException("ivshmem server: --vectors must be 1..1024, got " + vectors);
        }
        if (maxClients < 1 || maxClients > IvshmemProtocol.MAX_ID + 1) {
            throw new IllegalArgumentException("ivshmem server: at most 1.." + (IvshmemProtocol.MAX_ID + 1) + " clients, got " + maxClients);
        }
        UnixServerSocket listener = UnixServerSocket.listen(socket);
        try {
            Files.setPosixFilePermissions(socket, PosixFilePermissions.fromString("rw-------"));
        } catch (IOException | RuntimeException e) {
            listener.close();
            throw new IllegalStateException("ivshmem server: cannot make " + socket + " owner-only: " + e.getMessage(), e);
        }
        IvshmemServer server = new IvshmemServer(listener, memory, ownsMemory, vectors, maxClients, meters);
        server.acceptor.start();
        log.info("ivshmem server on {}: {} bytes of shared memory ({}), {} vectors per client", socket, memory.size(), memory.name(),
                vectors);
        return server;
    }

    public Path socket() {
        return listener.path();
    }

    /** The shared memory, as the server maps it. */
    public SharedMemory memory() {
        return memory;
    }

    public int vectors() {
        return vectors;
    }

    /** The clients now connected, by id, with their eventfds. */
    public List<ClientView> clients() {
        return view;
    }

    private void acceptLoop() {
        while (!closed) {
            UnixSocketChannel channel;
            try {
                channel = listener.accept();
            } catch (RuntimeException e) {
                if (!closed) {
                    log.error("ivshmem server on {}: accept failed, no more clients: {}", listener.path(), e.toString());
                }
                return;
            }
            try {
                context.execute("ivshmem new client", () -> welcome(channel));
            } catch (RuntimeException e) {
                channel.close();
                return;
            }
        }
    }

    /** On the context: the setup of a new client, then the news to the others. */
    private void welcome(UnixSocketChannel channel) {
        if (closed) {
            channel.close();
            return;
        }
        if (clients.size() >= maxClients) {
            log.warn("ivshmem server on {}: refusing a client: {} are connected (--max-clients)", listener.path(), clients.size());
            refused.increment();
            channel.close();
            return;
        }
        int id = freeId();
        EventFd[] fds = new EventFd[vectors];
        Client client;
        try {
            for (int v = 0; v < vectors; v++) {
                fds[v] = EventFd.create();
            }
            client = new Client(id, channel, fds);
            channel.setSendTimeout(SEND_TIMEOUT);
            IvshmemProtocol.send(channel, IvshmemProtocol.VERSION, -1);
            IvshmemProtocol.send(channel, id, -1);
            IvshmemProtocol.send(channel, IvshmemProtocol.SHARED_MEMORY, memory.fd());
        } catch (RuntimeException e) {
            log.warn("ivshmem server on {}: the setup of a new client (id {}) failed: {}", listener.path(), id, e.toString());
            refused.increment();
            for (EventFd fd : fds) {
                if (fd != null) {
                    fd.close();
                }
            }
            channel.close();
            return;
        }
        clients.put(id, client);
        nextId = (id + 1) % (IvshmemProtocol.MAX_ID + 1);
        connects.increment();
        List<Client> failed = new ArrayList<>();
        for (Client other : clients.values()) {
            if (other != client && !announce(other, client)) {
                failed.add(other);
            }
        }
        boolean ok = true;
        for (Client other : clients.values()) {
            if (other != client && !failed.contains(other)) {
                ok &= announce(client, other);
            }
        }
        ok = ok && announce(client, client);
        try {
            client.watch = context.addReadable(channel.fd(), "ivshmem client " + id, () -> clientReadable(client));
        } catch (RuntimeException e) {
            ok = false;
        }
        updateView();
        log.info("ivshmem server on {}: client {} connected ({} now)", listener.path(), id, clients.size());
        if (!ok) {
            failed.add(client);
        }
        for (Client c : failed) {
            drop(c, "a send to it failed or timed out (it stopped reading?)");
        }
    }

    /** Sends {@code about}'s eventfds to {@code to}; false if {@code to} cannot take them. */
    private boolean announce(Client to, Client about) {
        try {
            for (EventFd fd : about.fds) {
                IvshmemProtocol.send(to.channel, about.id, fd.fd());
            }
            return true;
        } catch (RuntimeException e) {
            log.debug("ivshmem server: sending client {}'s eventfds to client {} failed: {}", about.id, to.id, e.toString());
            return false;
        }
    }

    private int freeId() {
        int id = nextId;
        while (clients.containsKey(id)) {
            id = (id + 1) % (IvshmemProtocol.MAX_ID + 1);
        }
        return id;
    }

    /** A client sent something (they never should) or hung up: either way it goes. */
    private void clientReadable(Client client) {
        ByteBuffer b = ByteBuffer.allocate(64);
        String why;
        try {
            var m = client.channel.receive(b, 0);
            why = m.eof() ? "hung up" : "sent " + m.bytes() + " bytes (clients must not send)";
        } catch (RuntimeException e) {
            why = "failed: " + e.getMessage();
        }
        drop(client, why);
    }

    /** On the context: removes a client, closes its eventfds, tells the others. */
    private void drop(Client client, String why) {
        if (clients.remove(client.id) != client) {
            return;
        }
        if (client.watch != null) {
            client.watch.cancel();
        }
        client.channel.close();
        for (EventFd fd : client.fds) {
            fd.close();
        }
        disconnects.increment();
        log.info("ivshmem server on {}: client {} {}; telling the {} others", listener.path(), client.id, why, clients.size());
        List<Client> failed = new ArrayList<>();
        for (Client other : clients.values()) {
            try {
                IvshmemProtocol.send(other.channel, client.id, -1);
            } catch (RuntimeException e) {
                failed.add(other);
            }
        }
        updateView();
        for (Client c : failed) {
            drop(c, "a send to it failed or timed out (it stopped reading?)");
        }
    }

    private void updateView() {
        List<ClientView> v = new ArrayList<>();
        for (Client c : clients.values()) {
            List<Integer> fds = new ArrayList<>();
            for (EventFd fd : c.fds) {
                fds.add(fd.fd());
            }
            v.add(new ClientView(c.id, List.copyOf(fds)));
        }
        view = List.copyOf(v);
    }

    /** Stops listening, disconnects every client, closes the eventfds (and the memory if owned). */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        listener.close();
        try {
            acceptor.join(TimeUnit.SECONDS.toMillis(5));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        CompletableFuture<Void> done = new CompletableFuture<>();
        try {
            context.execute("ivshmem server close", () -> {
                for (Client c : new ArrayList<>(clients.values())) {
                    if (c.watch != null) {
                        c.watch.cancel();
                    }
                    c.channel.close();
                    for (EventFd fd : c.fds) {
                        fd.close();
                    }
                }
                clients.clear();
                updateView();
                done.complete(null);
            });
            done.get(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException | TimeoutException | RuntimeException e) {
            log.warn("ivshmem server on {}: closing the clients: {}", listener.path(), e.toString());
        }
        context.close();
        if (ownsMemory) {
            memory.close();
        }
        log.info("ivshmem server on {} stopped", listener.path());
    }

    /** Creates or opens {@code /dev/shm/NAME} (0600) of {@code size} bytes, as QEMU's server's --shm does. */
    public static SharedMemory openShm(String name, long size) {
        String file = name.startsWith("/") ? name.substring(1) : name;
        if (file.isEmpty() || file.contains("/")) {
            throw new IllegalArgumentException("--shm " + name + ": a POSIX shared-memory name has no '/' but a leading one");
        }
        Path path = Path.of("/dev/shm", file);
        try {
            return new io.jvmm.platform.backends.MemoryBackendOptions("ivshmem-server", io.jvmm.platform.backends.MemoryBackendOptions.FILE,
                    size, path).open();
        } catch (UncheckedIOException e) {
            throw new IllegalStateException("--shm " + name + ": " + e.getMessage(), e);
        }
    }
}
