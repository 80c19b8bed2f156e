package io.jvmm.chardev;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

@Timeout(value = 30, unit = TimeUnit.SECONDS)
class SocketChardevTest {
    @TempDir
    Path dir;
    private EventContext ctx;
    private final List<AutoCloseable> toClose = new CopyOnWriteArrayList<>();

    /** Records listener calls as "connected <thread>" / "disconnected <why> <thread>". */
    static final class Events implements SocketChardev.Listener {
        final BlockingQueue<String> queue = new LinkedBlockingQueue<>();
        volatile UnixSocketChannel channel;

        @Override
        public void onConnected(UnixSocketChannel ch) {
            channel = ch;
            queue.add("connected " + Thread.currentThread().getName());
        }

        @Override
        public void onDisconnected(String why) {
            queue.add("disconnected " + why + " " + Thread.currentThread().getName());
        }

        String next() throws InterruptedException {
            String e = queue.poll(Await.HANG_GUARD.toMillis(), TimeUnit.MILLISECONDS);
            assertNotNull(e, "no listener event within " + Await.HANG_GUARD);
            return e;
        }
    }

    @BeforeEach
    void start() {
        ctx = EventContext.start("chardev-test");
    }

    @AfterEach
    void stop() throws Exception {
        for (AutoCloseable c : toClose) {
            c.close();
        }
        ctx.close();
    }

    private <T extends AutoCloseable> T closeLater(T c) {
        toClose.add(0, c);
        return c;
    }

    @Test
    void clientRetriesUntilTheServerAppears() throws Exception {
        Path p = dir.resolve("late-server.sock");
        Events events = new Events();
        long before = ctx.progress();
        CompletableFuture<SocketChardev> opening = CompletableFuture.supplyAsync(() ->
                SocketChardev.open(SocketChardevSpec.client("late", p).withConnectTimeout(Await.HANG_GUARD), ctx, events));
        // The context runs nothing but this chardev: its start task and a retry timer have run,
        // so at least two attempts failed before anybody listens.
        Await.until(() -> ctx.progress() >= before + 2, "a failed connect attempt and its retry");
        assertFalse(opening.isDone(), "nobody listens yet");
        UnixServerSocket server = closeLater(UnixServerSocket.listen(p));
        SocketChardev c = closeLater(opening.get(10, TimeUnit.SECONDS));
        assertTrue(c.isConnected());
        assertEquals("connected ctx-chardev-test", events.next());
        try (UnixSocketChannel accepted = server.accept()) {
            c.channel().send(ByteBuffer.wrap(new byte[] {3}));
            ByteBuffer b = ByteBuffer.allocate(1);
            accepted.receive(b, 0);
            assertEquals(3, b.get(0));
        }
    }

    @Test
    void connectTimeoutNamesIdAndPath() {
        Path p = dir.resolve("nobody.sock");
        long start = System.nanoTime();
        ChardevException e = assertThrows(ChardevException.class, () -> SocketChardev.open(
                SocketChardevSpec.client("vhost0", p).withConnectTimeout(Duration.ofMillis(300)), ctx, new Events()));
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        assertTrue(e.getMessage().contains("'vhost0'") && e.getMessage().contains(p.toString())
                && e.getMessage().contains("300 ms") && e.getMessage().contains("ENOENT"), e.getMessage());
        assertTrue(ms >= 300 && ms < SocketChardevSpec.DEFAULT_CONNECT_TIMEOUT.toMillis(),
                "gave up after " + ms + " ms: at its own timeout, not the default one");
    }

    @Test
    void unretryableErrorFailsAtOnce() throws Exception {
        Path underAFile = Files.writeString(dir.resolve("plain-file"), "x").resolve("c.sock");
        Duration connectTimeout = Duration.ofMinutes(10);
        long start = System.nanoTime();
        ChardevException e = assertThrows(ChardevException.class, () -> SocketChardev.open(
                SocketChardevSpec.client("c1", underAFile).withConnectTimeout(connectTimeout), ctx, new Events()));
        assertTrue(e.getMessage().contains("'c1'") && e.getMessage().contains("ENOTDIR")
                && e.getCause() instanceof NativeException, e.getMessage());
        assertTrue(System.nanoTime() - start < connectTimeout.toNanos(), "no retrying until the connect timeout");
    }

    @Test
    void hangUpIsDetectedAndReported() throws Exception {
        Path p = dir.resolve("hangup.sock");
        UnixServerSocket server = closeLater(UnixServerSocket.listen(p));
        Events events = new Events();
        SocketChardev c = closeLater(SocketChardev.open(SocketChardevSpec.client("h", p), ctx, events));
        assertEquals("connected ctx-chardev-test", events.next());
        UnixSocketChannel accepted = server.accept();
        accepted.close();
        assertEquals("disconnected peer hung up ctx-chardev-test", events.next());
        ctx.waitUntil(() -> !c.isConnected(), Duration.ofSeconds(5), "disconnected state");
        assertNull(c.channel());
        assertTrue(events.channel.isClosed(), "the chardev closed the dead channel");
    }

    @Test
    void dataIsLeftForTheListenerToRead() throws Exception {
        Path p = dir.resolve("data.sock");
        UnixServerSocket server = closeLater(UnixServerSocket.listen(p));
        BlockingQueue<Integer> drained = new LinkedBlockingQueue<>();
        SocketChardev.Listener reader = new SocketChardev.Listener() {
            UnixSocketChannel ch;

            @Override
            public void onConnected(UnixSocketChannel channel) {
                ch = channel;
            }

            @Override
            public void onDisconnected(String why) {
                ByteBuffer b = ByteBuffer.allocate(8);
                ch.receive(b, 0); // the last words of the peer are still readable here
                drained.add(b.position());
            }
        };
        closeLater(SocketChardev.open(SocketChardevSpec.client("d", p), ctx, reader));
        try (UnixSocketChannel accepted = server.accept()) {
            accepted.send(ByteBuffer.wrap(new byte[] {1, 2, 3}));
        }
        assertEquals(3, drained.poll(10, TimeUnit.SECONDS));
    }

    @Test
    void userReportedDisconnectIsHandledOnce() throws Exception {
        Path p = dir.resolve("user.sock");
        UnixServerSocket server = closeLater(UnixServerSocket.listen(p));
        Events events = new Events();
        SocketChardev c = closeLater(SocketChardev.open(SocketChardevSpec.client("u", p), ctx, events));
        events.next();
        closeLater(server.accept());
        c.disconnect("EPIPE on write");
        c.disconnect("EPIPE again");
        assertEquals("disconnected EPIPE on write ctx-chardev-test", events.next());
        EventContextTest.settle(ctx);   // both reports have been handled
        assertNull(events.queue.poll(), "one disconnect per connection");
    }

    @Test
    void clientReconnectsAfterAHangUp() throws Exception {
        Path p = dir.resolve("reconnect.sock");
        UnixServerSocket server = closeLater(UnixServerSocket.listen(p));
        Events events = new Events();
        SocketChardev c = closeLater(SocketChardev.open(
                SocketChardevSpec.client("r", p).withReconnect(Duration.ofMillis(100)), ctx, events));
        assertEquals("connected ctx-chardev-test", events.next());
        // The server goes away before the client can notice (so it cannot reconnect to it)...
        UnixSocketChannel first = server.accept();
        server.close();
        first.close();
        assertEquals("disconnected peer hung up ctx-chardev-test", events.next());
        // ...the client retries while nobody listens (a retry timer ran, on a context that runs
        // nothing else)...
        long before = ctx.progress();
        Await.until(() -> ctx.progress() >= before + 2, "a failed reconnect attempt");
        assertFalse(c.isConnected());
        // ...and the server restarts on the same path.
        UnixServerSocket restarted = closeLater(UnixServerSocket.listen(p));
        assertEquals("connected ctx-chardev-test", events.next());
        assertTrue(c.isConnected());
        try (UnixSocketChannel accepted = restarted.accept()) {
            c.channel().send(ByteBuffer.wrap(new byte[] {9}));
            ByteBuffer b = ByteBuffer.allocate(1);
            accepted.receive(b, 0);
            assertEquals(9, b.get(0));
        }
    }

    @Test
    void serverWithWaitBlocksUntilAClientConnects() throws Exception {
        Path p = dir.resolve("server-wait.sock");
        Events events = new Events();
        CompletableFuture<SocketChardev> opening = CompletableFuture.supplyAsync(() ->
                SocketChardev.open(SocketChardevSpec.server("s", p, true), ctx, events));
        Await.until(() -> Files.exists(p), "the listening socket");
        EventContextTest.settle(ctx);
        assertFalse(opening.isDone(), "wait=on: open waits for a client");
        UnixSocketChannel client = closeLater(UnixSocketChannel.connect(p));
        SocketChardev s = closeLater(opening.get(10, TimeUnit.SECONDS));
        assertTrue(s.isConnected());
        assertEquals("connected ctx-chardev-test", events.next());
        client.send(ByteBuffer.wrap(new byte[] {4}));
        ByteBuffer b = ByteBuffer.allocate(1);
        s.channel().receive(b, 0);
        assertEquals(4, b.get(0));
    }

    @Test
    void serverWithoutAClientTimesOutNamingIdAndPath() {
        Path p = dir.resolve("lonely.sock");
        ChardevException e = assertThrows(ChardevException.class, () -> SocketChardev.open(
                SocketChardevSpec.server("lonely", p, true).withConnectTimeout(Duration.ofMillis(200)), ctx, new Events()));
        assertTrue(e.getMessage().contains("'lonely'") && e.getMessage().contains(p.toString())
                && e.getMessage().contains("no client"), e.getMessage());
        assertFalse(Files.exists(p), "the failed chardev removed its socket");
    }

    @Test
    void serverAcceptsAgainWithAReconnectPolicy() throws Exception {
        Path p = dir.resolve("server-again.sock");
        Events events = new Events();
        SocketChardev s = closeLater(SocketChardev.open(
                SocketChardevSpec.server("s2", p, false).withReconnect(Duration.ofMillis(100)), ctx, events));
        UnixSocketChannel first = closeLater(UnixSocketChannel.connect(p));
        assertEquals("connected ctx-chardev-test", events.next());
        // A second client waits in the backlog while the first is connected.
        UnixSocketChannel second = closeLater(UnixSocketChannel.connect(p));
        EventContextTest.settle(ctx);
        assertNull(events.queue.poll(), "one client at a time");
        first.close();
        assertEquals("disconnected peer hung up ctx-chardev-test", events.next());
        assertEquals("connected ctx-chardev-test", events.next());
        second.send(ByteBuffer.wrap(new byte[] {8}));
        ByteBuffer b = ByteBuffer.allocate(1);
        s.channel().receive(b, 0);
        assertEquals(8, b.get(0), "the second client is the one now connected");
    }

    @Test
    void serverWithoutReconnectStopsListeningAfterTheClientLeaves() throws Exception {
        Path p = dir.resolve("server-once.sock");
        Events events = new Events();
        closeLater(SocketChardev.open(SocketChardevSpec.server("once", p, false), ctx, events));
        UnixSocketChannel.connect(p).close();
        assertEquals("connected ctx-chardev-test", events.next());
        assertEquals("disconnected peer hung up ctx-chardev-test", events.next());
        ctx.waitUntil(() -> !Files.exists(p), Duration.ofSeconds(5), "listener removal");
    }

    /** Rule 5: a client chardev opened on the context thread needs the server on that same context to accept. */
    @Test
    void clientAndServerOnTheSameContextOpenedFromIt() throws Exception {
        Path p = dir.resolve("same-context.sock");
        Events serverEvents = new Events();
        Events clientEvents = new Events();
        String r = ctx.submit(() -> {
            SocketChardev server = closeLater(SocketChardev.open(SocketChardevSpec.server("srv", p, false), ctx, serverEvents));
            SocketChardev client = closeLater(SocketChardev.open(SocketChardevSpec.client("cli", p), ctx, clientEvents));
            ctx.waitUntil(server::isConnected, Duration.ofSeconds(5), "the server chardev to accept");
            return server.isConnected() + " " + client.isConnected();
        }).get(10, TimeUnit.SECONDS);
        assertEquals("true true", r);
    }

    @Test
    void closeTellsTheListenerAndRemovesTheSocket() throws Exception {
        Path p = dir.resolve("closing.sock");
        Events events = new Events();
        SocketChardev s = SocketChardev.open(SocketChardevSpec.server("cl", p, false), ctx, events);
        UnixSocketChannel client = closeLater(UnixSocketChannel.connect(p));
        assertEquals("connected ctx-chardev-test", events.next());
        s.close();
        s.close();
        assertEquals("disconnected chardev closed ctx-chardev-test", events.next());
        assertFalse(Files.exists(p));
        assertTrue(client.receive(ByteBuffer.allocate(1), 0).eof(), "the client sees the connection end");
    }

    @Test
    void specParsesQemuSyntax() {
        SocketChardevSpec s = SocketChardevSpec.parse("socket,id=char0,path=/tmp/vhost.sock,server=on,wait=off");
        assertEquals("char0", s.id());
        assertEquals(Path.of("/tmp/vhost.sock"), s.path());
        assertTrue(s.server());
        assertFalse(s.waitForClient());
        assertNull(s.reconnect());
        assertTrue(SocketChardevSpec.parse("id=a,path=/x,server=on").waitForClient(), "QEMU's default is wait=on");
        SocketChardevSpec c = SocketChardevSpec.parse("id=b,path=/y,reconnect=2,timeout-ms=1500");
        assertFalse(c.server());
        assertEquals(Duration.ofSeconds(2), c.reconnect());
        assertEquals(Duration.ofMillis(1500), c.connectTimeout());
        assertEquals(Duration.ofMillis(250), SocketChardevSpec.parse("id=b,path=/y,reconnect-ms=250").reconnect());
        assertTrue(assertThrows(IllegalArgumentException.class, () -> SocketChardevSpec.parse("id=a,path=/x,colour=blue"))
                .getMessage().contains("colour"));
        assertThrows(IllegalArgumentException.class, () -> SocketChardevSpec.parse("id=a"));
        assertThrows(IllegalArgumentException.class, () -> SocketChardevSpec.parse("id=a,path=/x,server=maybe"));
        assertThrows(IllegalArgumentException.class, () -> SocketChardevSpec.parse("id=a,path=/x,reconnect=0"));
        assertThrows(IllegalArgumentException.class, () -> SocketChardevSpec.parse("id=a,path=/x,wait=on"));
    }
}
