package io.jvmm.devices.ivshmem.server;

import static org.junit.jupiter.api.Assertions.*;

import io.jvmm.chardev.Await;
import io.jvmm.chardev.EventFd;
import io.jvmm.chardev.SharedMemory;
import io.jvmm.chardev.SocketChardevSpec;
import io.jvmm.chardev.UnixSocketChannel;
import io.jvmm.devices.ivshmem.IvshmemProtocol.Message;
import io.jvmm.devices.ivshmem.IvshmemServerConnection;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The server's side of the protocol, seen by clients that read it message by message. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class IvshmemServerTest {
    @TempDir
    Path dir;

    /** A protocol client: the setup, then every later message. */
    private static final class Client implements AutoCloseable {
        final IvshmemServerConnection.Setup setup;
        final List<Message> messages = new ArrayList<>();

        Client(Path socket) {
            setup = IvshmemServerConnection.setup("test client", SocketChardevSpec.client("c", socket), Duration.ofSeconds(10));
            messages.addAll(setup.early());
        }

        /** Reads until {@code count} messages arrived after the setup. */
        List<Message> await(int count) {
            setup.channel().setReceiveTimeout(Await.HANG_GUARD);
            while (messages.size() < count) {
                Message m = setup.reader().readSome();
                if (m != null) {
                    messages.add(m);
                }
            }
            return messages;
        }

        @Override
        public void close() {
            for (Message m : messages) {
                if (m.hasFd()) {
                    io.jvmm.chardev.Fds.closeQuietly(m.fd());
                }
            }
            setup.channel().close();
            setup.memory().close();
        }
    }

    @Test
    void clientsGetDistinctIdsEachOthersEventfdsAndNewsOfDepartures() throws Exception {
        Path socket = dir.resolve("s.sock");
        try (IvshmemServer server = IvshmemServer.start(socket, SharedMemory.create("srv", 64 << 10), true, 2, 8, null)) {
            assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(socket)), "owner-only socket");
            try (Client a = new Client(socket)) {
                assertEquals(0, a.setup.id(), "the first client gets id 0, as QEMU's server gives");
                List<Message> own = a.await(2);
                assertEquals(List.of(0L, 0L), own.stream().map(Message::value).toList(), "its own id twice, with eventfds");
                assertTrue(own.stream().allMatch(Message::hasFd));
                try (Client b = new Client(socket)) {
                    assertEquals(1, b.setup.id());
                    List<Message> bm = b.await(4);
                    assertEquals(List.of(0L, 0L, 1L, 1L), bm.stream().map(Message::value).toList(), "A's eventfds, then B's own");
                    List<Message> am = a.await(4);
                    assertEquals(List.of(1L, 1L), am.subList(2, 4).stream().map(Message::value).toList(), "A is told of B");
                    // A signals B's vector 1 through what it got; B's own vector-1 eventfd sees it
                    EventFd toB = EventFd.adopt(io.jvmm.chardev.Fds.dup(am.get(3).fd()));
                    EventFd bOwn1 = EventFd.adopt(io.jvmm.chardev.Fds.dup(bm.get(3).fd()));
                    toB.signal();
                    assertEquals(1, bOwn1.consume(), "A's copy and B's are the same eventfd");
                    toB.close();
                    bOwn1.close();
                    assertEquals(List.of(0, 1), server.clients().stream().map(IvshmemServer.ClientView::id).toList());
                }
                List<Message> am = a.await(5);
                assertEquals(1, am.get(4).value(), "B's departure announced");
                assertFalse(am.get(4).hasFd(), "without an fd");
                Await.until(() -> server.clients().size() == 1, "the server's view: A alone");
            }
        }
    }

    @Test
    void aClientThatSendsOrVanishesDoesNotDisturbTheOthers() throws Exception {
        Path socket = dir.resolve("m.sock");
        try (IvshmemServer server = IvshmemServer.start(socket, SharedMemory.create("srv", 64 << 10), true, 1, 3, null);
             Client a = new Client(socket)) {
            a.await(1);
            UnixSocketChannel rude = UnixSocketChannel.connect(socket);
            Await.until(() -> server.clients().size() == 2, "the rude client connected");
            int rudeId = server.clients().get(1).id();
            rude.send(ByteBuffer.wrap(new byte[] {1, 2, 3}));
            List<Message> am = a.await(3);
            assertEquals(rudeId, am.get(1).value(), "A saw it join");
            assertEquals(rudeId, am.get(2).value(), "and leave, once it sent bytes (clients never send)");
            assertFalse(am.get(2).hasFd());
            rude.close();
            UnixSocketChannel vanishing = UnixSocketChannel.connect(socket);
            vanishing.close();
            try (Client b = new Client(socket)) {
                assertNotEquals(a.setup.id(), b.setup.id());
                b.await(2);
                Await.until(() -> server.clients().stream().map(IvshmemServer.ClientView::id).toList()
                        .equals(List.of(a.setup.id(), b.setup.id())), "A and B remain, the others are gone");
            }
        }
    }
}
