package io.jvmm.devices.p9.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * Fuzz target for the 9P server's message decoder: a session fed an arbitrary byte stream, framed
 * by each message's size field exactly as the socket transport frames it (a size below the header
 * or above the msize ends the stream, as it closes a socket), over a fresh export with a file and a
 * directory in it. Every request must be answered (no tag left in flight once the stream ends,
 * within a bound: no hang), every reply must be well formed (its size field is its length, its
 * tag the request's, its type the request's R-type or Rlerror, never above the msize), and no
 * request may fail with an internal error of ours (a Java runtime exception inside an operation,
 * counted by {@link P9ServerMetrics#internalErrors()}): bad input is a 9P error. The stream's
 * first 1 byte chooses a read-only export or not. Regression inputs in
 * {@code P9SessionFuzzTestInputs/stream/} (real 9P2000.L conversations and broken ones).
 */
class P9SessionFuzzTest {
    private static final int MSIZE = 8192;
    private static final long ANSWER_BOUND_NANOS = 10_000_000_000L;

    @FuzzTest(maxDuration = "30s")
    void stream(byte[] input) throws Exception {
        if (input.length == 0) {
            return;
        }
        Path root = Files.createTempDirectory("p9-fuzz");
        try {
            Files.writeString(root.resolve("file"), "0123456789abcdef".repeat(64));
            Files.createDirectory(root.resolve("dir"));
            Files.writeString(root.resolve("dir").resolve("inner"), "inner");
            P9ServerConfig config = new P9ServerConfig(root, (input[0] & 1) != 0, SecurityModel.NONE, FlushMode.EXACT, MSIZE,
                    64, 32, 2, java.time.Duration.ZERO);
            P9ServerMetrics metrics = P9ServerMetrics.unregistered("fuzz");
            try (P9Server server = new P9Server("fuzz", config, metrics)) {
                Replies replies = new Replies();
                P9Session session = server.open(replies);
                ByteBuffer in = ByteBuffer.wrap(input, 1, input.length - 1).order(ByteOrder.LITTLE_ENDIAN);
                while (in.remaining() >= 4) {
                    long size = Integer.toUnsignedLong(in.getInt(in.position()));
                    if (size < 4 || size > MSIZE || size > in.remaining()) {
                        break;   // the socket's frame decoder would close the connection (or wait for more)
                    }
                    byte[] frame = new byte[(int) size];
                    in.get(frame);
                    try {
                        session.receive(Unpooled.wrappedBuffer(frame), null);
                    } catch (IllegalArgumentException shorterThanHeader) {
                        assertTrue(size < P9.HEADER, () -> "refused a " + size + "-byte message: " + shorterThanHeader);
                    }
                }
                long deadline = System.nanoTime() + ANSWER_BOUND_NANOS;
                while (session.outstandingTags() > 0) {
                    if (System.nanoTime() > deadline) {
                        fail(session.outstandingTags() + " requests still unanswered after 10 s");
                    }
                    Thread.onSpinWait();
                    Thread.yield();
                }
                server.closed(session);
                assertEquals(0, metrics.internalErrors(), "a request failed with an internal error (see the log)");
                replies.check();
            }
        } finally {
            deleteTree(root);
        }
    }

    /** The transport: checks each reply's framing against its request. */
    private static final class Replies implements P9Connection {
        private final List<String> problems = new ArrayList<>();

        @Override
        public synchronized void send(Request request, ByteBuf reply) {
            try {
                int n = reply.readableBytes();
                if (n < P9.HEADER || reply.getIntLE(reply.readerIndex()) != n) {
                    problems.add("reply to " + P9.name(request.type) + " of " + n + " bytes with size field "
                            + (n >= 4 ? reply.getIntLE(reply.readerIndex()) : -1));
                    return;
                }
                int type = reply.getUnsignedByte(reply.readerIndex() + 4);
                int tag = reply.getUnsignedShortLE(reply.readerIndex() + 5);
                if (tag != request.tag) {
                    problems.add("reply with tag " + tag + " to " + P9.name(request.type) + " tag " + request.tag);
                }
                if (type != request.type + 1 && type != P9.RLERROR) {
                    problems.add("reply type " + type + " to " + P9.name(request.type));
                }
                if (n > MSIZE) {
                    problems.add("reply of " + n + " bytes above the msize");
                }
            } finally {
                reply.release();
            }
        }

        @Override
        public void cancelled(Request request) {
        }

        @Override
        public String describe() {
            return "fuzz client";
        }

        synchronized void check() {
            assertTrue(problems.isEmpty(), () -> String.join("\n", problems));
        }
    }

    private static void deleteTree(Path root) throws IOException {
        try (Stream<Path> all = Files.walk(root)) {
            all.sorted(Comparator.reverseOrder()).forEach(p -> {
                try {
                    p.toFile().setWritable(true);
                    Files.deleteIfExists(p);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
        }
    }
}
