package io.jvmm.chardev;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * Child-process half of FdPassingTest: connects to the socket given as argument, receives one
 * message (a 16-byte header: memory size, pattern seed) carrying a memfd and an eventfd, writes
 * the pattern into the memory and signals the eventfd.
 */
public final class FdPassingChild {
    private FdPassingChild() {
    }

    /** The byte the parent expects at offset i for a given seed. */
    static byte pattern(long seed, long i) {
        return (byte) (seed + i * 31);
    }

    public static void main(String[] args) {
        Path path = Path.of(args[0]);
        try (UnixSocketChannel ch = UnixSocketChannel.connect(path)) {
            ch.setReceiveTimeout(Duration.ofSeconds(20));
            ByteBuffer header = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN);
            List<Integer> fds = new ArrayList<>();
            ch.receiveFully(header, fds);
            if (fds.size() != 2) {
                System.err.println("expected 2 fds in one message, got " + fds);
                System.exit(2);
            }
            long size = header.getLong(0);
            long seed = header.getLong(8);
            try (SharedMemory mem = SharedMemory.map(fds.get(0), 0, size, true);
                 EventFd done = EventFd.adopt(fds.get(1))) {
                ByteBuffer w = mem.window(0);
                for (int i = 0; i < size; i++) {
                    w.put(i, pattern(seed, i));
                }
                done.signal(7);
            }
            // Tell the parent we are finished with the socket too.
            ch.send(ByteBuffer.wrap(new byte[] {'k'}));
        } catch (RuntimeException e) {
            e.printStackTrace();
            System.exit(1);
        }
        System.exit(0);
    }
}
