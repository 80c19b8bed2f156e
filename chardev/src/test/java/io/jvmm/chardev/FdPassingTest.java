package io.jvmm.chardev;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** A memfd and an eventfd travel in one message to a separate process, which uses both. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class FdPassingTest {

    @Test
    void childProcessReceivesMemfdAndEventFdInOneMessage(@TempDir Path dir) throws Exception {
        Path sock = dir.resolve("fd-passing.sock");
        long size = 64 * 1024;
        long seed = 0x5A;
        try (UnixServerSocket server = UnixServerSocket.listen(sock);
             SharedMemory mem = SharedMemory.create("passed-to-child", size);
             EventFd done = EventFd.create();
             ChildJvm child = ChildJvm.start(FdPassingChild.class, sock.toString())) {

            try (UnixSocketChannel ch = server.accept()) {
                ch.setReceiveTimeout(Duration.ofSeconds(30));
                ByteBuffer header = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN);
                header.putLong(size).putLong(seed).flip();
                ch.send(header, mem.fd(), done.fd());
                assertEquals(16, header.position(), "send consumes the buffer");

                ByteBuffer ack = ByteBuffer.allocate(1);
                ReceivedMessage m = ch.receive(ack, 0);
                assertEquals(1, m.bytes(), () -> "child did not acknowledge; output:\n" + child.output());
            }
            assertEquals(0, child.awaitExit(Duration.ofSeconds(30)), child::output);

            assertEquals(7, done.consume(), "the child's signal arrives on our eventfd");
            ByteBuffer w = mem.window(0);
            for (int i = 0; i < size; i++) {
                if (w.get(i) != FdPassingChild.pattern(seed, i)) {
                    throw new AssertionError("byte " + i + " is " + w.get(i) + ", child wrote "
                            + FdPassingChild.pattern(seed, i) + "; output:\n" + child.output());
                }
            }
            assertTrue(w.get(1) != w.get(0), "pattern is not constant");
        }
    }
}
