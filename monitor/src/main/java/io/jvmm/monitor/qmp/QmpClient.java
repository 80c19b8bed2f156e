package io.jvmm.monitor.qmp;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * A small blocking QMP client (tests, tools): connects to a Unix socket or a TCP port, reads the
 * greeting, sends commands and reads their replies, keeping the events that arrive meanwhile.
 * Every wait is bounded. A reader thread turns the server's lines into JSON values; it ends with
 * {@link #close}. One thread uses a client at a time.
 */
public final class QmpClient implements AutoCloseable {
    private static final int MAX_LINE = 64 << 20;

    private final SocketChannel channel;
    private final BlockingQueue<Object> lines = new LinkedBlockingQueue<>();
    private final List<JsonNode> events = new ArrayList<>();
    private final Thread reader;
    private final JsonNode greeting;
    private final Duration timeout;
    private int nextEventChecked;

    private QmpClient(SocketChannel channel, Duration timeout) {
        this.channel = channel;
        this.timeout = timeout;
        this.reader = new Thread(this::readLines, "qmp-client-reader");
        this.reader.setDaemon(true);
        this.reader.start();
        this.greeting = take();
        if (!greeting.has("QMP")) {
            close();
            throw new IllegalStateException("the server's first line is not a QMP greeting: " + greeting);
        }
    }

    /** Connects to {@code endpoint}; replies are awaited at most {@code timeout}. */
    public static QmpClient connect(QmpEndpoint endpoint, Duration timeout) {
        try {
            SocketChannel channel;
            if (endpoint instanceof QmpEndpoint.Unix unix) {
                channel = SocketChannel.open(StandardProtocolFamily.UNIX);
                channel.connect(UnixDomainSocketAddress.of(unix.path()));
            } else {
                QmpEndpoint.Tcp tcp = (QmpEndpoint.Tcp) endpoint;
                channel = SocketChannel.open(new InetSocketAddress(tcp.host(), tcp.port()));
            }
            return new QmpClient(channel, timeout);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot connect to QMP on " + endpoint.filename(), e);
        }
    }

    public static QmpClient connect(QmpEndpoint endpoint) {
        return connect(endpoint, Duration.ofSeconds(30));
    }

    /** Connects and negotiates ({@code qmp_capabilities}). */
    public static QmpClient negotiated(QmpEndpoint endpoint) {
        QmpClient c = connect(endpoint);
        JsonNode reply = c.execute("qmp_capabilities");
        if (!reply.has("return")) {
            c.close();
            throw new IllegalStateException("qmp_capabilities failed: " + reply);
        }
        return c;
    }

    public JsonNode greeting() {
        return greeting;
    }

    /** Runs {@code command} without arguments; the whole reply ({@code return} or {@code error}). */
    public JsonNode execute(String command) {
        return execute(command, null);
    }

    /** Runs {@code command} with {@code arguments} (null for none); the whole reply. */
    public JsonNode execute(String command, ObjectNode arguments) {
        ObjectNode request = QmpJson.object();
        request.put("execute", command);
        if (arguments != null) {
            request.set("arguments", arguments);
        }
        return request(request);
    }

    /** Sends {@code request} and returns the next reply. */
    public JsonNode request(JsonNode request) {
        return raw(QmpJson.line(request));
    }

    /** Sends bytes as they are and returns the next reply (not an event). */
    public JsonNode raw(byte[] bytes) {
        send(bytes);
        return nextReply();
    }

    /** Sends bytes as they are. */
    public void send(byte[] bytes) {
        try {
            ByteBuffer b = ByteBuffer.wrap(bytes);
            while (b.hasRemaining()) {
                channel.write(b);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write to the QMP server", e);
        }
    }

    public JsonNode raw(String text) {
        return raw(text.getBytes(StandardCharsets.UTF_8));
    }

    /** The next reply; events before it are kept. */
    public JsonNode nextReply() {
        while (true) {
            JsonNode line = take();
            if (line.has("event")) {
                events.add(line);
            } else {
                return line;
            }
        }
    }

    /** The events received so far, in order. */
    public List<JsonNode> events() {
        return List.copyOf(events);
    }

    /** Waits for the next event called {@code name} not returned before; replies meanwhile are an error. */
    public JsonNode awaitEvent(String name) {
        while (true) {
            for (; nextEventChecked < events.size(); nextEventChecked++) {
                if (events.get(nextEventChecked).path("event").asText().equals(name)) {
                    return events.get(nextEventChecked++);
                }
            }
            JsonNode line = take();
            if (!line.has("event")) {
                throw new IllegalStateException("a reply came while waiting for event " + name + ": " + line);
            }
            events.add(line);
        }
    }

    /** Whether the server has closed the connection (within the client's timeout). */
    public boolean awaitClosed() {
        try {
            reader.join(timeout.toMillis());
            return !reader.isAlive();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    private JsonNode take() {
        Object line;
        try {
            line = lines.poll(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for the QMP server");
        }
        if (line == null) {
            throw new IllegalStateException("no message from the QMP server within " + timeout.toMillis() + " ms");
        }
        if (line instanceof RuntimeException e) {
            lines.add(e);   // every later wait fails the same way
            throw new IllegalStateException(e.getMessage(), e);   // with the waiting caller's stack
        }
        return (JsonNode) line;
    }

    private void readLines() {
        ByteBuffer buffer = ByteBuffer.allocate(64 << 10);
        ByteArrayOutputStream line = new ByteArrayOutputStream();
        try {
            while (true) {
                buffer.clear();
                int n = channel.read(buffer);
                if (n < 0) {
                    lines.add(new IllegalStateException("the QMP server closed the connection"));
                    return;
                }
                for (int i = 0; i < n; i++) {
                    byte b = buffer.get(i);
                    if (b == '\n') {
                        lines.add(QmpJson.MAPPER.readTree(line.toByteArray()));
                        line.reset();
                    } else if (b != '\r') {
                        line.write(b);
                        if (line.size() > MAX_LINE) {
                            lines.add(new IllegalStateException("a line from the QMP server is longer than " + MAX_LINE + " bytes"));
                            return;
                        }
                    }
                }
            }
        } catch (IOException e) {
            lines.add(new IllegalStateException("reading from the QMP server failed: " + e));
        }
    }

    @Override
    public void close() {
        try {
            channel.close();
        } catch (IOException e) {
            // closing anyway
        }
        try {
            reader.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
