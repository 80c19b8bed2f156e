package io.jvmm.devices.ivshmem;

import static org.junit.jupiter.api.Assertions.*;

import io.jvmm.chardev.SharedMemory;
import io.jvmm.devices.ivshmem.IvshmemProtocol;
import io.jvmm.platform.options.UserError;
import io.jvmm.testkit.TestMachine;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.stream.Stream;
import io.jvmm.chardev.UnixSocketChannel;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Rule 6: a server that is absent, silent, speaks another version, sends a message without its fd
 * or a truncated one makes the device's creation fail within the timeout with one clear error
 * naming the server and what was wrong, and nothing is left behind (no thread, no fd).
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class IvshmemSetupFailureTest {
    private static final long TIMEOUT_MS = 400;

    @TempDir
    Path dir;

    /**
     * One failing setup before any test counts fds: what the process opens once, at the first
     * such failure in the JVM, is not a leak of the attempt that happens to come first (run alone,
     * the class saw a socket "left open" by anInvalidIdAndAnInvalidMessage; after other tests, not).
     * A leak per attempt still shows in every test.
     */
    @BeforeAll
    static void firstFailureOfTheProcess(@TempDir Path warmUp) throws Exception {
        try (ScriptedServer server = new ScriptedServer(warmUp.resolve("warm-up.sock"), c -> {
            send(c, 0);
            send(c, 1);
            send(c, -7);
        })) {
            assertThrows(UserError.class, () -> TestMachine.builder()
                    .option("-chardev", "socket,id=srv,path=" + warmUp.resolve("warm-up.sock") + ",timeout-ms=" + TIMEOUT_MS)
                    .device("ivshmem-doorbell,id=iv0,chardev=srv,vectors=2")
                    .build());
        }
        try (SharedMemory closed = SharedMemory.create("warm-up", 4096)) {
            closed.fd();   // its close opens the process's guard memfd for closed regions
        }
    }

    private UserError buildFails(Path socket) {
        Set<String> fdsBefore = openFds();
        UserError e = attempt(socket);
        assertNothingLeft(fdsBefore);
        return e;
    }

    private static void assertNothingLeft(Set<String> fdsBefore) {
        assertTrue(Thread.getAllStackTraces().keySet().stream().noneMatch(t -> t.getName().startsWith("ctx-ivshmem-")),
                "no device context left running");
        Set<String> leaked = openFds();
        leaked.removeAll(fdsBefore);
        assertEquals(Set.of(), leaked, "no fd left open");
    }

    private UserError attempt(Path socket) {
        long start = System.nanoTime();
        UserError e = assertThrows(UserError.class, () -> TestMachine.builder()
                .option("-chardev", "socket,id=srv,path=" + socket + ",timeout-ms=" + TIMEOUT_MS)
                .device("ivshmem-doorbell,id=iv0,chardev=srv,vectors=2")
                .build());
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        assertTrue(ms < TIMEOUT_MS + 10_000, "failed within the timeout (took " + ms + " ms)");
        assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage());
        assertTrue(e.getMessage().contains("ivshmem-doorbell 'iv0'"), "names the device: " + e.getMessage());
        assertTrue(e.getMessage().contains(socket.toString()), "names the server: " + e.getMessage());
        return e;
    }

    /** The fds of this process with what they point at, so a leak shows what leaked. */
    private static Set<String> openFds() {
        Set<String> fds = new TreeSet<>();
        try (Stream<Path> s = Files.list(Path.of("/proc/self/fd"))) {
            s.forEach(p -> {
                try {
                    fds.add(p.getFileName() + " -> " + Files.readSymbolicLink(p));
                } catch (IOException e) {
                    // the fd of the listing itself, gone already
                }
            });
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        fds.removeIf(f -> f.contains("/proc/") || f.contains(" -> /proc"));
        // SharedMemory's guard for closed regions: one memfd for the whole process, opened at the
        // first close in this JVM, which is a test of this class when it runs first or alone (it
        // then read as a leak: 2 of 2 runs of the class in a shake of devices tests).
        fds.removeIf(f -> f.endsWith(" -> /memfd:jvmm-closed-memory (deleted)"));
        return fds;
    }

    private static void send(UnixSocketChannel c, long value) {
        IvshmemProtocol.send(c, value, -1);
    }

    private UserError withScript(Consumer<UnixSocketChannel> script) throws Exception {
        Path socket = dir.resolve("scripted.sock");
        Set<String> fdsBefore = openFds();
        UserError e;
        try (ScriptedServer server = new ScriptedServer(socket, script)) {
            e = attempt(socket);
            assertNull(server.failure(), "the script ran");
        }
        assertNothingLeft(fdsBefore);
        return e;
    }

    @Test
    void noServer() {
        UserError e = buildFails(dir.resolve("nobody.sock"));
        assertTrue(e.getMessage().contains("no ivshmem server listens"), e.getMessage());
    }

    @Test
    void aServerThatNeverAnswers() throws Exception {
        UserError e = withScript(c -> { });
        assertTrue(e.getMessage().contains("did not finish the setup within " + TIMEOUT_MS + " ms"), e.getMessage());
        assertTrue(e.getMessage().contains("waiting for the protocol version"), e.getMessage());
    }

    @Test
    void aServerThatStallsAfterTheId() throws Exception {
        UserError e = withScript(c -> {
            send(c, 0);
            send(c, 3);
        });
        assertTrue(e.getMessage().contains("got the version and id 3"), e.getMessage());
        assertTrue(e.getMessage().contains("waiting for the shared memory"), e.getMessage());
    }

    @Test
    void aWrongProtocolVersion() throws Exception {
        UserError e = withScript(c -> send(c, 1));
        assertTrue(e.getMessage().contains("speaks protocol version 1"), e.getMessage());
    }

    @Test
    void theSharedMemoryMessageWithoutItsFd() throws Exception {
        UserError e = withScript(c -> {
            send(c, 0);
            send(c, 0);
            send(c, -1);
        });
        assertTrue(e.getMessage().contains("without its file descriptor"), e.getMessage());
    }

    @Test
    void aTruncatedMessageThenSilence() throws Exception {
        UserError e = withScript(c -> {
            send(c, 0);
            c.send(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(0, 7));
        });
        assertTrue(e.getMessage().contains("4 of the 8 bytes of a message (truncated)"), e.getMessage());
    }

    @Test
    void aTruncatedMessageThenHangUp() throws Exception {
        UserError e = withScript(c -> {
            send(c, 0);
            c.send(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(0, 7));
            c.close();
        });
        assertTrue(e.getMessage().contains("in the middle of a message (4 of 8 bytes)"), e.getMessage());
    }

    @Test
    void anInvalidIdAndAnInvalidMessage() throws Exception {
        UserError e = withScript(c -> {
            send(c, 0);
            send(c, 70000);
        });
        assertTrue(e.getMessage().contains("invalid id message"), e.getMessage());
        e = withScript(c -> {
            send(c, 0);
            send(c, 1);
            send(c, -7);
        });
        assertTrue(e.getMessage().contains("invalid message -7"), e.getMessage());
    }

    @Test
    void memoryThatCannotBeABar() throws Exception {
        try (SharedMemory odd = SharedMemory.create("odd", 12288)) {
            UserError e = withScript(c -> {
                send(c, 0);
                send(c, 1);
                IvshmemProtocol.send(c, -1, odd.fd());
            });
            assertTrue(e.getMessage().contains("shares 12288 bytes"), e.getMessage());
        }
    }

}
