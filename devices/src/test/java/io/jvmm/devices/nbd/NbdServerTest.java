package io.jvmm.devices.nbd;

import static io.jvmm.devices.nbd.NbdProtocol.*;
import static org.junit.jupiter.api.Assertions.*;

import io.jvmm.devices.blk.BlockBackend;
import io.jvmm.devices.blk.Peers;
import io.jvmm.devices.blk.RawFileBackend;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Our NBD server against peers nobody here wrote (nbdinfo, nbdcopy, qemu-io, qemu-img), and
 * against a byte-level client sending bad input: every mistake gets the protocol's answer, and the
 * server goes on serving.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class NbdServerTest {
    static final int SIZE = 16 << 20;

    @TempDir
    Path dir;
    private Path image;
    private Path roImage;
    private NbdServer server;
    private final List<BlockBackend> backends = new ArrayList<>();
    private String uri;

    @BeforeEach
    void setUp() throws Exception {
        image = dir.resolve("disk.img");
        byte[] content = new byte[SIZE];
        new Random(1).nextBytes(content);
        Files.write(image, content);
        roImage = dir.resolve("ro.img");
        Files.write(roImage, new byte[1 << 20]);
        server = NbdServer.start(NbdAddress.unix(dir.resolve("nbd.sock")));
        server.addExport(new NbdExport("disk", "the test disk", backend(image, false), true, true));
        server.addExport(new NbdExport("ro", null, backend(roImage, true), false, true));
        uri = "nbd+unix:///disk?socket=" + dir.resolve("nbd.sock");
    }

    private BlockBackend backend(Path p, boolean ro) {
        BlockBackend b = new RawFileBackend("nbd-test", p, ro, 2);
        backends.add(b);
        return b;
    }

    @AfterEach
    void tearDown() {
        server.close();
        backends.forEach(BlockBackend::close);
    }

    static String sha256(Path p) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(p)));
    }

    @Test
    void nbdinfoListsTheExportsAndTheirProperties() throws Exception {
        Peers.require("nbdinfo", "libnbd-bin");
        String list = Peers.ok("nbdinfo", "--list", "nbd+unix:///?socket=" + dir.resolve("nbd.sock"));
        assertTrue(list.contains("protocol: newstyle-fixed") && list.contains("structured"), list);
        assertTrue(list.contains("export=\"disk\"") && list.contains("export=\"ro\""), list);
        assertTrue(list.contains("description: the test disk"), list);
        assertTrue(list.contains("base:allocation"), list);
        assertTrue(list.contains("block_size_minimum: 1") && list.contains("block_size_preferred: 4096")
                && list.contains("block_size_maximum: 33554432"), list);
        assertTrue(list.contains("export-size: " + SIZE), list);
        assertTrue(list.contains("is_read_only: true") && list.contains("is_read_only: false"), list);
        for (String flag : List.of("can_flush: true", "can_fua: true", "can_trim: true", "can_zero: true", "can_fast_zero: true",
                "can_multi_conn: true", "can_df: true")) {
            assertTrue(list.contains(flag), flag + " in\n" + list);
        }
        String content = Peers.ok("nbdinfo", "--content", uri);
        assertTrue(content.contains("content: data"), content);
        String map = Peers.ok("nbdinfo", "--map", uri);
        assertTrue(map.contains(SIZE + "    0  data"), map);
    }

    @Test
    void nbdcopyBothWaysKeepsEveryByte() throws Exception {
        Peers.require("nbdcopy", "libnbd-bin");
        Path out = dir.resolve("out.img");
        Peers.ok("nbdcopy", "--requests=16", uri, out.toString());
        assertEquals(sha256(image), sha256(out));
        Path in = dir.resolve("in.img");
        byte[] fresh = new byte[SIZE];
        new Random(2).nextBytes(fresh);
        Files.write(in, fresh);
        Peers.ok("nbdcopy", "--requests=16", in.toString(), uri);
        assertEquals(sha256(in), sha256(image));
        // and over TCP on loopback
        try (NbdServer tcp = NbdServer.start("tcp", NbdAddress.tcp("127.0.0.1", 0), NbdServer.Listener.OWN_LOOP, 4)) {
            tcp.addExport(new NbdExport("disk", null, backends.get(0), true, true));
            Path viaTcp = dir.resolve("tcp.img");
            Peers.ok("nbdcopy", "nbd://127.0.0.1:" + tcp.address().port() + "/disk", viaTcp.toString());
            assertEquals(sha256(in), sha256(viaTcp));
        }
    }

    @Test
    void qemuIoAndQemuImgReadWriteAndCompare() throws Exception {
        Peers.require("qemu-io", "qemu-utils");
        String io = Peers.ok("qemu-io", "-f", "raw", "-c", "write -P 0xab 4096 12288", "-c", "read -P 0xab 4096 12288",
                "-c", "write -z 65536 65536", "-c", "read -P 0 65536 65536", "-c", "write -P 0x17 -f 1M 64k",
                "-c", "discard 2M 4k", "-c", "flush", "-c", "aio_write -P 0x22 3M 8k", "-c", "aio_write -P 0x23 4M 8k",
                "-c", "aio_flush", "-c", "read -P 0x23 4M 8k", uri);
        assertFalse(io.contains("Pattern verification failed") || io.contains("error"), io);
        Path copy = dir.resolve("copy.img");
        Peers.ok("qemu-img", "convert", "-f", "raw", "-O", "raw", uri, copy.toString());
        assertEquals(sha256(image), sha256(copy));
        Peers.ok("qemu-img", "compare", "-f", "raw", "-F", "raw", uri, image.toString());
        Path q = dir.resolve("to.qcow2");
        Peers.ok("qemu-img", "convert", "-f", "raw", "-O", "qcow2", uri, q.toString());
        Peers.ok("qemu-img", "compare", "-f", "raw", "-F", "qcow2", uri, q.toString());
    }

    @Test
    void badNegotiationGetsTheProtocolsAnswer() throws Exception {
        Path sock = dir.resolve("nbd.sock");
        try (RawNbdClient c = new RawNbdClient(sock)) {
            c.handshake(0x80);   // an unknown client flag: the protocol says drop the connection
            assertTrue(c.closedByServer());
        }
        try (RawNbdClient c = new RawNbdClient(sock)) {
            c.handshake(FLAG_C_FIXED_NEWSTYLE);
            c.send(ByteBuffer.allocate(16).putLong(0x1234).putInt(OPT_GO).putInt(0));   // not IHAVEOPT
            assertTrue(c.closedByServer());
        }
        try (RawNbdClient c = new RawNbdClient(sock)) {
            c.handshake(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES);
            c.option(99, new byte[] {1, 2, 3});
            assertEquals(REP_ERR_UNSUP, c.optionReply().type());
            c.option(OPT_LIST, new byte[] {1});
            assertEquals(REP_ERR_INVALID, c.optionReply().type());
            c.option(OPT_SET_META_CONTEXT, RawNbdClient.metaData("disk", BASE_ALLOCATION));
            assertEquals(REP_ERR_INVALID, c.optionReply().type(), "meta contexts need structured replies first");
            c.option(OPT_GO, RawNbdClient.goData("nope"));
            RawNbdClient.OptionReply unknown = c.optionReply();
            assertEquals(REP_ERR_UNKNOWN, unknown.type());
            assertTrue(unknown.text().contains("nope"), unknown.text());
            c.option(OPT_GO, new byte[] {0, 0, 0, 9, 'x'});   // a name longer than the option
            assertEquals(REP_ERR_INVALID, c.optionReply().type());
            c.option(OPT_INFO, new byte[NbdServerSession.MAX_OPTION_DATA + 1]);   // too big: refused, its data skipped
            assertEquals(REP_ERR_TOO_BIG, c.optionReply().type());
            c.option(OPT_STRUCTURED_REPLY, new byte[0]);
            assertEquals(REP_ACK, c.optionReply().type());
            c.option(OPT_SET_META_CONTEXT, RawNbdClient.metaData("disk", "base:allocation", "x-other:thing"));
            RawNbdClient.OptionReply ctx = c.optionReply();
            assertEquals(REP_META_CONTEXT, ctx.type());
            assertTrue(ctx.text().endsWith(BASE_ALLOCATION));
            assertEquals(REP_ACK, c.optionReply().type());
            // the connection is still good: LIST, then ABORT is acknowledged and closes it
            c.option(OPT_LIST, new byte[0]);
            assertEquals(REP_SERVER, c.optionReply().type());
            assertEquals(REP_SERVER, c.optionReply().type());
            assertEquals(REP_ACK, c.optionReply().type());
            c.option(OPT_ABORT, new byte[0]);
            assertEquals(REP_ACK, c.optionReply().type());
            assertTrue(c.closedByServer());
        }
        try (RawNbdClient c = new RawNbdClient(sock)) {
            c.handshake(FLAG_C_FIXED_NEWSTYLE);
            c.option(OPT_EXPORT_NAME, "nope".getBytes());   // EXPORT_NAME has no error reply: the session ends
            assertTrue(c.closedByServer());
        }
    }

    @Test
    void badRequestsGetErrorRepliesAndTheConnectionGoesOn() throws Exception {
        Path sock = dir.resolve("nbd.sock");
        try (RawNbdClient c = new RawNbdClient(sock)) {
            c.handshake(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES);
            int flags = c.go("disk");
            assertEquals(0, flags & FLAG_READ_ONLY);
            c.request(0, 42, 1, 0, 512, null);
            assertArrayEquals(new long[] {EINVAL, 1}, c.simpleReply(), "unknown command");
            c.request(0, CMD_READ, 2, SIZE - 512, 1024, null);
            assertArrayEquals(new long[] {EINVAL, 2}, c.simpleReply(), "read past the end");
            c.request(0, CMD_WRITE, 3, SIZE - 512, 1024, new byte[1024]);
            assertArrayEquals(new long[] {ENOSPC, 3}, c.simpleReply(), "write past the end (its payload is consumed)");
            c.request(0, CMD_READ, 4, 0, 64 << 20, null);
            assertArrayEquals(new long[] {EINVAL, 4}, c.simpleReply(), "a read longer than the maximum block size");
            c.request(1 << 9, CMD_READ, 5, 0, 512, null);
            assertArrayEquals(new long[] {EINVAL, 5}, c.simpleReply(), "an unknown flag");
            c.request(0, CMD_BLOCK_STATUS, 6, 0, 512, null);
            assertArrayEquals(new long[] {EINVAL, 6}, c.simpleReply(), "BLOCK_STATUS without a meta context");
            c.request(CMD_FLAG_FAST_ZERO, CMD_WRITE_ZEROES, 7, 0, 4096, null);
            assertArrayEquals(new long[] {ENOTSUP, 7}, c.simpleReply(), "a fast zero a raw file cannot do fast");
            c.request(0, CMD_READ, 8, 0, 0, null);
            assertArrayEquals(new long[] {EINVAL, 8}, c.simpleReply(), "a zero-length read");
            // an oversized write: refused, its (huge) payload discarded as it streams in, never buffered
            c.request(0, CMD_WRITE, 9, 0, 40 << 20, new byte[40 << 20]);
            assertArrayEquals(new long[] {EINVAL, 9}, c.simpleReply());
            // still serving
            c.request(0, CMD_READ, 10, 4096, 512, null);
            assertArrayEquals(new long[] {0, 10}, c.simpleReply());
            byte[] data = c.read(512).array();
            assertArrayEquals(java.util.Arrays.copyOfRange(Files.readAllBytes(image), 4096, 4608), data);
            c.request(0, CMD_DISC, 11, 0, 0, null);
            assertTrue(c.closedByServer());
        }
        try (RawNbdClient c = new RawNbdClient(sock)) {
            c.handshake(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES);
            assertEquals(FLAG_READ_ONLY, c.go("ro") & FLAG_READ_ONLY);
            c.request(0, CMD_WRITE, 1, 0, 512, new byte[512]);
            assertArrayEquals(new long[] {EPERM, 1}, c.simpleReply(), "a write to a read-only export");
            c.request(0, CMD_TRIM, 2, 0, 512, null);
            assertArrayEquals(new long[] {EPERM, 2}, c.simpleReply());
            ByteBuffer bad = ByteBuffer.allocate(REQUEST_SIZE).putInt(0xdeadbeef);
            bad.position(REQUEST_SIZE);
            c.send(bad);
            assertTrue(c.closedByServer(), "a request with a wrong magic ends the connection");
        }
        assertTrue(server.metrics().errors() >= 11, "refusals are counted: " + server.metrics().errors());
    }

    @Test
    void repliesGoOutOfOrderAsRequestsComplete() throws Exception {
        // a back-end that holds the first read until the second has completed
        CompletableFuture<Void> gate = new CompletableFuture<>();
        BlockBackend gated = new BlockBackend() {
            int reads;

            @Override
            public long size() {
                return 1 << 20;
            }

            @Override
            public boolean readOnly() {
                return true;
            }

            @Override
            public synchronized CompletableFuture<Void> read(ByteBuffer dst, long position) {
                dst.position(dst.limit());
                return reads++ == 0 ? gate : CompletableFuture.<Void>completedFuture(null);
            }

            @Override
            public CompletableFuture<Void> write(ByteBuffer src, long position) {
                return CompletableFuture.failedFuture(new UnsupportedOperationException());
            }

            @Override
            public CompletableFuture<Void> flush() {
                return CompletableFuture.completedFuture(null);
            }

            @Override
            public CompletableFuture<Void> discard(long position, long length) {
                return CompletableFuture.completedFuture(null);
            }

            @Override
            public CompletableFuture<Void> writeZeroes(long position, long length, boolean mayUnmap) {
                return CompletableFuture.completedFuture(null);
            }

            @Override
            public String describe() {
                return "gated";
            }

            @Override
            public void close() {
            }
        };
        server.addExport(new NbdExport("gated", null, gated, false, false));
        try (RawNbdClient c = new RawNbdClient(dir.resolve("nbd.sock"))) {
            c.handshake(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES);
            c.go("gated");
            c.request(0, CMD_READ, 100, 0, 512, null);
            c.request(0, CMD_READ, 200, 512, 512, null);
            long[] first = c.simpleReply();
            assertEquals(200, first[1], "the second request's reply comes first");
            c.read(512);
            gate.complete(null);
            assertEquals(100, c.simpleReply()[1]);
            c.read(512);
        }
    }
}
