package io.jvmm.chardev;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

@Timeout(value = 30, unit = TimeUnit.SECONDS)
class UnixServerSocketTest {
    @TempDir
    Path dir;

    @Test
    void acceptsAConnectionByPath() {
        Path p = dir.resolve("s.sock");
        try (UnixServerSocket server = UnixServerSocket.listen(p);
             UnixSocketChannel client = UnixSocketChannel.connect(p);
             UnixSocketChannel accepted = server.accept()) {
            assertEquals(p, server.path());
            client.send(ByteBuffer.wrap(new byte[] {42}));
            ByteBuffer dst = ByteBuffer.allocate(1);
            accepted.receive(dst, 0);
            assertEquals(42, dst.get(0));
        }
        assertFalse(Files.exists(p), "close removes the socket file");
    }

    @Test
    void staleSocketIsReplaced() {
        Path p = dir.resolve("stale.sock");
        UnixServerSocket first = UnixServerSocket.listen(p);
        // Simulate a crashed server: the fd is gone but the file stays.
        Fds.close(first.fd());
        assertTrue(Files.exists(p));
        try (UnixServerSocket second = UnixServerSocket.listen(p);
             UnixSocketChannel client = UnixSocketChannel.connect(p);
             UnixSocketChannel accepted = second.accept()) {
            assertTrue(accepted.fd() >= 0);
        }
    }

    @Test
    void refusesAPathThatIsNotASocket() throws Exception {
        Path p = Files.writeString(dir.resolve("file"), "precious");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> UnixServerSocket.listen(p));
        assertTrue(e.getMessage().contains("not a socket") && e.getMessage().contains(p.toString()), e.getMessage());
        assertEquals("precious", Files.readString(p), "the file is untouched");
    }

    @Test
    void refusesAPathALiveServerUses() {
        Path p = dir.resolve("live.sock");
        try (UnixServerSocket live = UnixServerSocket.listen(p)) {
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> UnixServerSocket.listen(p));
            assertTrue(e.getMessage().contains("live server"), e.getMessage());
            assertTrue(Files.exists(p));
        }
    }

    @Test
    void tooLongPathIsAClearError() {
        Path p = dir.resolve("x".repeat(120));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> UnixServerSocket.listen(p));
        assertTrue(e.getMessage().contains("107"), e.getMessage());
    }

    @Test
    void connectToNothingNamesThePath() {
        Path p = dir.resolve("nobody.sock");
        NativeException e = assertThrows(NativeException.class, () -> UnixSocketChannel.connect(p));
        assertEquals("ENOENT", e.errnoName());
        assertTrue(e.getMessage().contains(p.toString()), e.getMessage());
        assertTrue(UnixSocketChannel.tryConnect(p).isEmpty());
    }

    @Test
    void closeWakesABlockedAccept() throws Exception {
        UnixServerSocket server = UnixServerSocket.listen(dir.resolve("wake.sock"));
        CompletableFuture<UnixSocketChannel> accepting = CompletableFuture.supplyAsync(server::accept);
        Thread.sleep(100);
        assertFalse(accepting.isDone());
        server.close();
        ExecutionException e = assertThrows(ExecutionException.class, () -> accepting.get(10, TimeUnit.SECONDS));
        assertTrue(e.getCause() instanceof NativeException, e.getCause().toString());
    }
}
