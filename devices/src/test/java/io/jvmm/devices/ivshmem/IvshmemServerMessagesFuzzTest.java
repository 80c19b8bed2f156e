package io.jvmm.devices.ivshmem;

import static org.junit.jupiter.api.Assertions.fail;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import io.jvmm.devices.FuzzChecks;
import io.jvmm.chardev.EventFd;
import io.jvmm.chardev.SharedMemory;
import io.jvmm.chardev.SocketChardevSpec;
import io.jvmm.chardev.UnixServerSocket;
import io.jvmm.chardev.UnixSocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Fuzz target for what an ivshmem server sends a doorbell device: a sequence of 8-byte messages,
 * each with no fd, an eventfd or a memfd (as the fuzzer chooses), through the device's real setup
 * ({@link IvshmemServerConnection#setup}: version, id, peers, the shared memory). A bad server
 * must end as an {@link IvshmemSetupException} whose causes are the peer's doing (a protocol or
 * socket error), never a Java runtime error of ours (an index, a null, a buffer under- or
 * overflow), and must not hang past the setup timeout. Regression inputs in
 * {@code IvshmemServerMessagesFuzzTestInputs/setup/}.
 */
class IvshmemServerMessagesFuzzTest {
    private static final Path DIR = FuzzChecks.tempDirectory("ivshmem-fuzz");
    private static final AtomicLong NEXT = new AtomicLong();


    @FuzzTest(maxDuration = "30s")
    void setup(FuzzedDataProvider data) throws Exception {
        Path path = DIR.resolve("s" + NEXT.incrementAndGet());
        int messages = data.consumeInt(0, 12);
        long[] values = new long[messages];
        int[] kinds = new int[messages];
        for (int i = 0; i < messages; i++) {
            values[i] = data.consumeBoolean() ? data.consumeLong(-2, 3) : data.consumeLong();
            kinds[i] = data.consumeInt(0, 3);
        }
        byte[] tail = data.consumeRemainingAsBytes();
        try (UnixServerSocket listener = UnixServerSocket.listen(path)) {
            Thread server = new Thread(() -> serve(listener, values, kinds, tail), "fuzz-ivshmem-server");
            server.start();
            try {
                IvshmemServerConnection.Setup s = IvshmemServerConnection.setup("fuzz", SocketChardevSpec.client("c0", path),
                        Duration.ofMillis(500));
                s.memory().close();
                s.early().forEach(IvshmemServerConnection::closeFd);
                s.reader().discard();
                s.channel().close();
            } catch (IvshmemSetupException refused) {
                for (Throwable t = refused.getCause(); t != null; t = t.getCause()) {
                    if (t.getClass().getName().startsWith("java.")) {
                        fail("the setup failed with a runtime error of ours: " + refused, refused);
                    }
                }
            } finally {
                server.join(10_000);
            }
        } finally {
            Files.deleteIfExists(path);
        }
    }

    private static void serve(UnixServerSocket listener, long[] values, int[] kinds, byte[] tail) {
        try (UnixSocketChannel c = listener.accept()) {
            for (int i = 0; i < values.length; i++) {
                switch (kinds[i]) {
                    case 1 -> {
                        try (EventFd e = EventFd.create()) {
                            IvshmemProtocol.send(c, values[i], e.fd());
                        }
                    }
                    case 2, 3 -> {
                        try (SharedMemory m = SharedMemory.create("fuzz", kinds[i] == 2 ? 4096 : 8192)) {
                            IvshmemProtocol.send(c, values[i], m.fd());
                        }
                    }
                    default -> IvshmemProtocol.send(c, values[i], -1);
                }
            }
            if (tail.length > 0) {
                c.send(java.nio.ByteBuffer.wrap(tail, 0, Math.min(tail.length, 7)));   // a partial message, then the end
            }
        } catch (RuntimeException peerLeft) {
            // the device gave up on us first
        }
    }
}
