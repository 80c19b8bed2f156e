package io.jvmm.devices.blk.nbd;

import static io.jvmm.devices.nbd.NbdProtocol.FLAG_FIXED_NEWSTYLE;
import static io.jvmm.devices.nbd.NbdProtocol.FLAG_NO_ZEROES;
import static io.jvmm.devices.nbd.NbdProtocol.IHAVEOPT;
import static io.jvmm.devices.nbd.NbdProtocol.INFO_EXPORT;
import static io.jvmm.devices.nbd.NbdProtocol.NBDMAGIC;
import static io.jvmm.devices.nbd.NbdProtocol.OPTION_REPLY_MAGIC;
import static io.jvmm.devices.nbd.NbdProtocol.OPT_GO;
import static io.jvmm.devices.nbd.NbdProtocol.OPT_STRUCTURED_REPLY;
import static io.jvmm.devices.nbd.NbdProtocol.REP_ACK;
import static io.jvmm.devices.nbd.NbdProtocol.REP_INFO;
import static org.junit.jupiter.api.Assertions.fail;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.jvmm.devices.FuzzChecks;
import io.jvmm.devices.blk.loop.NettyLoop;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Fuzz target for the NBD client's parsing of what a server sends: a fake server on a Unix socket
 * sends arbitrary bytes, either from its first byte on (the greeting and option replies are
 * fuzzed) or after a valid fixed-newstyle negotiation (structured replies accepted or not, by the
 * input's first byte), as the reply to the client's first READ, its cookie patched in or not. The
 * open must succeed or fail with {@link IllegalArgumentException} naming the export, the READ must
 * complete or fail with an {@link IOException}, each within a bound, and no Java runtime exception
 * of ours (an index, a buffer position, a null) may appear in the chain of causes: a bad server is
 * a protocol error. Regression inputs in {@code NbdClientReplyFuzzTestInputs/server/}.
 */
class NbdClientReplyFuzzTest {
    private static final Path DIR = FuzzChecks.tempDirectory("nbd-client-fuzz");
    private static final AtomicLong NEXT = new AtomicLong();
    private static final NbdClientSettings SETTINGS = new NbdClientSettings(Duration.ofMillis(500), Duration.ofMillis(500),
            Duration.ZERO);


    @FuzzTest(maxDuration = "30s")
    void server(byte[] input) throws Exception {
        if (input.length == 0) {
            return;
        }
        int mode = input[0] & 0xff;
        byte[] bytes = java.util.Arrays.copyOfRange(input, 1, input.length);
        Path socket = DIR.resolve("s" + NEXT.incrementAndGet());
        try (ServerSocketChannel listener = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
             NettyLoop.Lease waiter = NettyLoop.acquire("nbd-fuzz-waiter")) {
            listener.bind(UnixDomainSocketAddress.of(socket));
            Thread server = new Thread(() -> serve(listener, mode, bytes), "fuzz-nbd-server");
            server.setDaemon(true);
            server.start();
            NbdBlockBackend client = null;
            try {
                client = NbdBlockBackend.open("fuzz", NbdUri.parse("nbd+unix:///disk?socket=" + socket), SETTINGS, true,
                        waiter.loop());
            } catch (IllegalArgumentException refused) {
                FuzzChecks.refusedByUs(refused);
            }
            if (client != null) {
                try {
                    client.read(ByteBuffer.allocate(4096), 0).get(5, TimeUnit.SECONDS);
                } catch (ExecutionException failed) {
                    if (!(failed.getCause() instanceof IOException)) {
                        fail("the READ failed with " + failed.getCause(), failed.getCause());
                    }
                    FuzzChecks.refusedByUs(failed.getCause());
                } catch (TimeoutException e) {
                    fail("the READ neither completed nor failed within 5 s (request timeout "
                            + SETTINGS.requestTimeout().toMillis() + " ms)");
                } finally {
                    client.close();
                }
            }
            listener.close();
            server.join(10_000);
        } finally {
            Files.deleteIfExists(socket);
        }
    }

    private static void serve(ServerSocketChannel listener, int mode, byte[] bytes) {
        try (SocketChannel c = listener.accept()) {
            if ((mode & 1) != 0) {
                negotiate(c, (mode & 2) != 0);
                ByteBuffer request = readFully(c, 28);   // magic, flags, type, cookie, offset, length
                if ((mode & 4) != 0 && bytes.length >= 16) {
                    for (int i = 0; i < 8; i++) {
                        bytes[8 + i] = request.get(8 + i);   // the reply's cookie is at the same offset
                    }
                }
            }
            c.write(ByteBuffer.wrap(bytes));
            ByteBuffer drain = ByteBuffer.allocate(4096);
            while (c.read(drain.clear()) >= 0) {
                // until the client leaves
            }
        } catch (IOException peerLeft) {
            // the client gave up on us first
        }
    }

    /** A valid fixed-newstyle negotiation: greeting, structured replies (acked or refused), NBD_OPT_GO for a 1 MiB export. */
    private static void negotiate(SocketChannel c, boolean structured) throws IOException {
        c.write(ByteBuffer.allocate(18).putLong(NBDMAGIC).putLong(IHAVEOPT).putShort((short) (FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES)).flip());
        readFully(c, 4 + 16);   // client flags, NBD_OPT_STRUCTURED_REPLY
        c.write(optionReply(OPT_STRUCTURED_REPLY, structured ? REP_ACK : 0x80000001, new byte[0]));
        ByteBuffer go = readFully(c, 16);
        readFully(c, go.getInt(12));
        c.write(optionReply(OPT_GO, REP_INFO, ByteBuffer.allocate(12).putShort((short) INFO_EXPORT).putLong(1 << 20)
                .putShort((short) 1).array()));
        c.write(optionReply(OPT_GO, REP_ACK, new byte[0]));
    }

    private static ByteBuffer optionReply(int option, int type, byte[] data) {
        return ByteBuffer.allocate(20 + data.length).putLong(OPTION_REPLY_MAGIC).putInt(option).putInt(type).putInt(data.length)
                .put(data).flip();
    }

    private static ByteBuffer readFully(SocketChannel c, int n) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(n);
        while (b.hasRemaining()) {
            if (c.read(b) < 0) {
                throw new IOException("the client left");
            }
        }
        return b.flip();
    }
}
