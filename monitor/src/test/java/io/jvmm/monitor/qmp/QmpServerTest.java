package io.jvmm.monitor.qmp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.jvmm.chardev.Await;
import io.jvmm.monitor.MachineEvent;
import io.jvmm.platform.options.UserError;
import io.jvmm.platform.registry.Registry;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Instant;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The server on real sockets: clients, framing limits, a client that does not read, events, sockets, closing. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class QmpServerTest {
    @TempDir
    Path dir;

    private final BareMachine machine = new BareMachine();
    private QmpServer server;

    private QmpServer start(QmpEndpoint endpoint) {
        server = QmpServer.start(endpoint, machine, Registry.of(List.of(), List.of()), 1 << 20);
        return server;
    }

    private QmpServer startUnix() {
        return start(new QmpEndpoint.Unix(dir.resolve("qmp.sock")));
    }

    @AfterEach
    void stopServer() {
        if (server != null) {
            server.close();
        }
    }

    @Test
    void theUnixSocketIsOwnerOnlyAndGoesWithTheServer() throws IOException {
        Path socket = dir.resolve("qmp.sock");
        startUnix();
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(socket)));
        try (Stream dirs = new Stream(dir)) {
            assertEquals(List.of("qmp.sock"), dirs.names(), "the private directory it was bound in is gone");
        }
        try (QmpClient c = QmpClient.connect(server.endpoint())) {
            JsonNode greeting = c.greeting().path("QMP");
            assertTrue(greeting.path("version").path("qemu").has("major"), greeting.toString());
            assertTrue(greeting.path("capabilities").isArray());
            server.close();
            assertTrue(c.awaitClosed(), "the client sees the end");
        }
        assertFalse(Files.exists(socket), "the socket file is removed");
    }

    /** The names in a directory. */
    private record Stream(Path dir) implements AutoCloseable {
        List<String> names() throws IOException {
            try (var s = Files.list(dir)) {
                return s.map(p -> p.getFileName().toString()).sorted().toList();
            }
        }

        @Override
        public void close() {
        }
    }

    @Test
    void aStaleSocketIsReplacedButALiveOneOrAFileIsNot() throws IOException {
        Path stale = dir.resolve("qmp.sock");
        try (ServerSocketChannel old = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            old.bind(UnixDomainSocketAddress.of(stale));
            UserError live = assertThrows(UserError.class, this::startUnix);
            assertTrue(live.getMessage().contains("a live server is accepting on it"), live.getMessage());
        }
        assertTrue(Files.exists(stale), "a socket nobody accepts on is left by the old server");
        startUnix().close();
        Path file = dir.resolve("file");
        Files.writeString(file, "data");
        UserError notSocket = assertThrows(UserError.class, () -> start(new QmpEndpoint.Unix(file)));
        assertTrue(notSocket.getMessage().contains("is not a socket"), notSocket.getMessage());
        assertEquals("data", Files.readString(file));
    }

    @Test
    void severalClientsNegotiateOnTheirOwnAndOnlyNegotiatedOnesGetEvents() {
        startUnix();
        try (QmpClient a = QmpClient.negotiated(server.endpoint());
             QmpClient b = QmpClient.connect(server.endpoint());
             QmpClient c = QmpClient.negotiated(server.endpoint())) {
            assertEquals(3, server.clients());
            assertEquals("CommandNotFound", b.execute("query-status").path("error").path("class").asText());
            long before = Instant.now().getEpochSecond();
            assertTrue(a.execute("stop").has("return"));
            JsonNode stopA = a.events().get(0);
            assertEquals("STOP", stopA.path("event").asText(), "QEMU sends STOP before stop's reply");
            assertFalse(stopA.has("data"), "STOP has no data");
            long seconds = stopA.path("timestamp").path("seconds").asLong();
            long micros = stopA.path("timestamp").path("microseconds").asLong();
            assertTrue(seconds >= before && seconds <= Instant.now().getEpochSecond(), stopA.toString());
            assertTrue(micros >= 0 && micros < 1_000_000, stopA.toString());
            assertEquals(stopA.path("timestamp"), c.awaitEvent("STOP").path("timestamp"), "the same event to every client");
            assertTrue(b.execute("qmp_capabilities").has("return"));
            assertEquals(List.of(), b.events(), "b negotiated after the event: it never got it");
            assertTrue(c.execute("cont").has("return"));
            assertEquals("RESUME", b.awaitEvent("RESUME").path("event").asText());
            assertEquals("RESUME", a.awaitEvent("RESUME").path("event").asText());
            assertTrue(c.execute("system_reset").has("return"));
            JsonNode reset = a.awaitEvent("RESET");
            assertEquals("{\"guest\":false,\"reason\":\"host-qmp-system-reset\"}", reset.path("data").toString());
        }
    }

    @Test
    void malformedAndOversizedMessagesGetAnErrorAndTheConnectionGoesOn() {
        startUnix();
        try (QmpClient c = QmpClient.negotiated(server.endpoint())) {
            assertTrue(c.raw("{\"execute\": }").path("error").path("desc").asText().startsWith("JSON parse error"));
            assertTrue(c.raw("}").path("error").path("desc").asText().startsWith("JSON parse error"));
            byte[] huge = new byte[24 << 20];
            Arrays.fill(huge, (byte) ' ');
            byte[] head = "{\"execute\":\"query-status\",\"arguments\":{\"pad\":\"".getBytes(StandardCharsets.US_ASCII);
            System.arraycopy(head, 0, huge, 0, head.length);
            byte[] tail = "\"}}".getBytes(StandardCharsets.US_ASCII);
            System.arraycopy(tail, 0, huge, huge.length - tail.length, tail.length);
            JsonNode reply = c.raw(huge);
            assertEquals("GenericError", reply.path("error").path("class").asText());
            assertTrue(reply.path("error").path("desc").asText().contains("over the limit of 1048576 bytes"), reply.toString());
            assertTrue(c.raw("[" .repeat(2000) + "]".repeat(2000)).path("error").path("desc").asText().contains("deeper than"));
            c.send(new byte[] {'{', '"', 0x01});   // a lexical error resets the parser (qmp-spec)
            assertTrue(c.nextReply().path("error").path("desc").asText().contains("control character"));
            assertEquals("running", c.execute("query-status").path("return").path("status").asText(), "still usable, VM untouched");
        }
    }

    @Test
    void pipelinedCommandsAreAnsweredInOrderWhileAtMostAFewWait() {
        startUnix();
        try (QmpClient c = QmpClient.negotiated(server.endpoint())) {
            StringBuilder burst = new StringBuilder();
            for (int i = 0; i < 500; i++) {
                burst.append("{\"execute\":\"query-status\",\"id\":").append(i).append("}");
            }
            c.send(burst.toString().getBytes(StandardCharsets.US_ASCII));
            for (int i = 0; i < 500; i++) {
                assertEquals(i, c.nextReply().path("id").asInt());
            }
        }
    }

    @Test
    void aClientThatLeavesItsEventsUnreadIsDisconnectedNotBufferedWithoutBound() throws IOException {
        startUnix();
        try (SocketChannel silent = SocketChannel.open(UnixDomainSocketAddress.of(dir.resolve("qmp.sock")))) {
            silent.write(ByteBuffer.wrap("{\"execute\":\"qmp_capabilities\"}".getBytes(StandardCharsets.US_ASCII)));
            ByteBuffer b = ByteBuffer.allocate(1);
            int lines = 0;
            while (lines < 2) {   // the greeting and the reply: negotiated; from now on it reads nothing
                b.clear();
                if (silent.read(b) < 0) {
                    throw new AssertionError("the server closed the connection early");
                }
                lines += b.get(0) == '\n' ? 1 : 0;
            }
            assertEquals(1, server.clients());
            for (int i = 0; i < 600_000 && server.clients() > 0; i++) {   // ~48 MB of events
                machine.monitor.events().emit(i % 2 == 0 ? new MachineEvent.Stop() : new MachineEvent.Resume());
            }
            Await.until(() -> server.clients() == 0, "the server to drop the client that does not read");
        }
        try (QmpClient c = QmpClient.negotiated(server.endpoint())) {
            assertEquals("running", c.execute("query-status").path("return").path("status").asText(), "the server goes on");
        }
    }

    @Test
    void tcpOnLoopbackWithAnEphemeralPort() {
        start(new QmpEndpoint.Tcp("127.0.0.1", 0));
        QmpEndpoint.Tcp bound = (QmpEndpoint.Tcp) server.endpoint();
        assertTrue(bound.port() > 0);
        try (QmpClient c = QmpClient.negotiated(bound)) {
            JsonNode chardevs = c.execute("query-chardev").path("return");
            assertEquals("tcp:127.0.0.1:" + bound.port() + ",server=on", chardevs.get(0).path("filename").asText());
            assertEquals("compat_monitor0", chardevs.get(0).path("label").asText());
        }
    }

    @Test
    void quitAnswersThenReportsShutdown() {
        startUnix();
        try (QmpClient c = QmpClient.negotiated(server.endpoint())) {
            assertTrue(c.execute("quit").has("return"));
            JsonNode shutdown = c.awaitEvent("SHUTDOWN");
            assertEquals("{\"guest\":false,\"reason\":\"host-qmp-quit\"}", shutdown.path("data").toString());
            assertEquals(1, machine.quits);
        }
    }
}
