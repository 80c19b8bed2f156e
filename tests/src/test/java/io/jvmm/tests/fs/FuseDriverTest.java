package io.jvmm.tests.fs;

import io.jvmm.testkit.TestMachine;
import io.jvmm.testkit.driver.DriverTimeoutException;
import io.jvmm.testkit.driver.Guest;
import io.jvmm.testkit.driver.GuestDriverException;
import io.jvmm.testkit.driver.fs.Errno;
import io.jvmm.testkit.driver.fs.FuseAttrOut;
import io.jvmm.testkit.driver.fs.FuseClient;
import io.jvmm.testkit.driver.fs.FuseDirent;
import io.jvmm.testkit.driver.fs.FuseEntryOut;
import io.jvmm.testkit.driver.fs.FuseException;
import io.jvmm.testkit.driver.fs.FuseInitFlags;
import io.jvmm.testkit.driver.fs.FuseInitOut;
import io.jvmm.testkit.driver.fs.FuseOpcode;
import io.jvmm.testkit.driver.fs.FuseOpenOut;
import io.jvmm.testkit.driver.fs.FuseProtocolException;
import io.jvmm.testkit.driver.fs.FuseSession;
import io.jvmm.testkit.driver.fs.FuseWriteOut;
import io.jvmm.testkit.driver.fs.VirtioFsDriver;
import io.jvmm.testkit.driver.pci.PciFunction;
import io.jvmm.testkit.driver.virtio.DeviceResetException;
import io.jvmm.testkit.driver.virtio.VirtioPciDriver;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The virtio-fs driver and FUSE client end to end on the no-CPU machine, against a scripted
 * device that answers as a test wants: queue use, split and pipelined transfers completed out
 * of order, malformed replies, silence, reset, INIT negotiation.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class FuseDriverTest {
    private static final FuseInitOut STANDARD_INIT = new FuseInitOut(7, 31, 131072,
            FuseInitFlags.ASYNC_READ | FuseInitFlags.BIG_WRITES | FuseInitFlags.MAX_PAGES, 16, 12, 1 << 20, 1, 8, 0);
    private static final long FILE_NODE = 5;

    private TestMachine machine;
    private ScriptedFuseDevice device;
    private VirtioFsDriver fs;
    private FuseClient fuse;

    @AfterEach
    void tearDown() {
        if (machine != null) {
            machine.close();
        }
    }

    /** A server that answers INIT with {@link #STANDARD_INIT} and hands everything else to {@code rest}. */
    private static ScriptedFuseDevice.Script server(Consumer<ScriptedFuseDevice.Request> rest) {
        return r -> {
            if (r.header.opcode() == FuseOpcode.INIT) {
                r.ok(STANDARD_INIT.encode());
            } else {
                rest.accept(r);
            }
        };
    }

    private void start(int requestQueues, ScriptedFuseDevice.Script script) {
        machine = new TestMachine(64L << 20);
        device = new ScriptedFuseDevice("scripted", requestQueues, script);
        machine.addVirtio(device);
        Guest guest = Guest.of(machine);
        PciFunction fn = guest.enumerate().stream().filter(VirtioPciDriver::isVirtio).findFirst().orElseThrow();
        VirtioPciDriver pci = VirtioPciDriver.probe(guest, fn);
        pci.setTimeout(Duration.ofSeconds(10));
        fs = new VirtioFsDriver(pci);
        fuse = new FuseClient(fs);
    }

    private void startAndInit(int requestQueues, ScriptedFuseDevice.Script script) {
        start(requestQueues, script);
        fs.initialize();
        fuse.init();
    }

    static byte pattern(long offset) {
        return (byte) (offset * 31 + 7);
    }

    static FuseEntryOut entry(long node, long size) {
        return new FuseEntryOut(node, 1, 0, 0, 0, 0, new io.jvmm.testkit.driver.fs.FuseAttr(node, size, 0, 0, 0, 0, 0, 0, 0,
                0100644, 1, 0, 0, 0, 4096, 0));
    }

    /** READ's fuse_read_in: (offset, size). */
    static long[] readArgs(ScriptedFuseDevice.Request r) {
        ByteBuffer a = r.args();
        return new long[] {a.getLong(8), Integer.toUnsignedLong(a.getInt(16))};
    }

    /** Answers a READ from a file of {@code size} pattern bytes. */
    static void answerRead(ScriptedFuseDevice.Request r, long fileSize) {
        long[] a = readArgs(r);
        int n = (int) Math.max(0, Math.min(a[1], fileSize - a[0]));
        byte[] data = new byte[n];
        for (int i = 0; i < n; i++) {
            data[i] = pattern(a[0] + i);
        }
        r.ok(data);
    }

    @Test
    void initReadsTheConfigurationAndNegotiates() {
        startAndInit(2, server(r -> r.error(Errno.ENOSYS)));
        assertEquals("scripted", fs.config().tag());
        assertEquals(2, fs.config().numRequestQueues());
        assertEquals(2, fs.requestQueueCount());
        ScriptedFuseDevice.Request init = device.seen(FuseOpcode.INIT).get(0);
        assertEquals(1, init.queue, "INIT goes on the first request queue");
        ByteBuffer in = init.args();
        assertEquals(FuseClient.MAJOR, in.getInt(0));
        assertEquals(FuseClient.MINOR, in.getInt(4));
        assertEquals(FuseClient.WANTED_FLAGS, in.getInt(12) & 0xFFFF_FFFFL);
        FuseSession s = fuse.session();
        assertEquals(31, s.minor());
        assertEquals(8, s.maxPages());
        assertEquals(32768, fuse.readChunk(), "reads are bounded by max_pages");
        assertEquals(32768, fuse.writeChunk(), "so are writes, below max_write");
    }

    @Test
    void requestsAlternateOverRequestQueuesAndForgetUsesTheHighPriorityQueue() {
        startAndInit(2, server(r -> {
            if (r.header.opcode() == FuseOpcode.FORGET) {
                r.done();
            } else {
                r.ok(new FuseAttrOut(1, 0, entry(r.header.nodeId(), 10).attr()).encode());
            }
        }));
        for (int i = 0; i < 4; i++) {
            assertEquals(10 + i, fuse.getattr(10 + i).attr().ino());
        }
        assertEquals(List.of(2, 1, 2, 1), device.seen(FuseOpcode.GETATTR).stream().map(r -> r.queue).toList(),
                "after INIT on queue 1, round robin over queues 1 and 2");
        fuse.forget(10, 3);
        ScriptedFuseDevice.Request forget = device.seen(FuseOpcode.FORGET).get(0);
        assertEquals(0, forget.queue, "FORGET travels on the high-priority queue");
        assertEquals(0, forget.writableLength, "with no writable buffer");
        assertEquals(3, forget.args().getLong(0));
        assertEquals(10, forget.header.nodeId());
        assertEquals(0, fs.inFlight());
    }

    @Test
    void largeReadIsSplitPipelinedAndReassembledFromOutOfOrderReplies() {
        long fileSize = 300_000;
        int wanted = 310_000;   // ten 32 KiB chunks, the last one crossing end of file
        List<ScriptedFuseDevice.Request> held = new ArrayList<>();
        int[] mostHeld = {0};
        startAndInit(1, server(r -> {
            held.add(r);
            mostHeld[0] = Math.max(mostHeld[0], held.size());
            long[] a = readArgs(r);
            if (held.size() == 4 || a[0] + a[1] >= wanted) {
                for (int i = held.size() - 1; i >= 0; i--) {   // newest first
                    answerRead(held.get(i), fileSize);
                }
                held.clear();
            }
        }));
        fuse.setMaxInFlight(4);
        byte[] data = fuse.read(FILE_NODE, 9, 0, wanted);
        assertEquals(fileSize, data.length, "stops at end of file");
        for (int i = 0; i < data.length; i++) {
            if (data[i] != pattern(i)) {
                throw new AssertionError("byte " + i + " is " + data[i] + ", expected " + pattern(i));
            }
        }
        List<ScriptedFuseDevice.Request> reads = device.seen(FuseOpcode.READ);
        assertEquals(10, reads.size());
        for (int i = 0; i < reads.size(); i++) {
            long[] a = readArgs(reads.get(i));
            assertEquals(32768L * i, a[0], "chunk " + i + " offset");
            assertTrue(a[1] <= 32768, "chunk " + i + " size " + a[1]);
            assertEquals(9, reads.get(i).args().getLong(0), "fh");
            assertEquals(2, reads.get(i).readableDescriptors, "in-header and fuse_read_in");
        }
        assertEquals(4, mostHeld[0], "four READs were in flight at once");
        assertEquals(0, fs.inFlight());
    }

    @Test
    void writeIsSplitAndAShortChunkEndsIt() {
        int[] chunk = {0};
        ByteArrayOutputStream received = new ByteArrayOutputStream();
        startAndInit(1, server(r -> {
            ByteBuffer a = r.args();
            int size = a.getInt(16);
            received.write(r.bytes, 80, size);
            int stored = chunk[0]++ == 1 ? size / 2 : size;   // the second chunk is stored half
            r.ok(new FuseWriteOut(stored).encode());
        }));
        fuse.setWriteChunk(20_000);
        fuse.setMaxInFlight(1);
        byte[] data = new byte[50_000];
        for (int i = 0; i < data.length; i++) {
            data[i] = pattern(i);
        }
        assertEquals(30_000, fuse.write(FILE_NODE, 3, 0, data), "first chunk, then half of the second");
        List<ScriptedFuseDevice.Request> writes = device.seen(FuseOpcode.WRITE);
        assertEquals(2, writes.size(), "nothing is sent after the short chunk");
        assertEquals(3, writes.get(0).readableDescriptors, "in-header, fuse_write_in and data in descriptors of their own");
        assertEquals(20_000, writes.get(1).args().getLong(8), "second chunk's offset");
        assertArrayEquals(Arrays.copyOf(data, 40_000), received.toByteArray());
    }

    @Test
    void aServerClaimingToHaveWrittenMoreThanSentIsRefused() {
        startAndInit(1, server(r -> r.ok(new FuseWriteOut(r.args().getInt(16) + 1).encode())));
        FuseProtocolException e = assertThrows(FuseProtocolException.class, () -> fuse.write(FILE_NODE, 3, 0, new byte[100]));
        assertTrue(e.getMessage().contains("claims to have written 101 bytes"), e.getMessage());
    }

    /** A malformation of the reply to the next LOOKUP, and what the error must say. */
    private record Malformation(String name, Consumer<ScriptedFuseDevice.Request> answer, String expected) {
    }

    @Test
    void malformedRepliesFailTheirRequestClearlyAndTheSessionGoesOn() {
        byte[] good = entry(7, 0).encode();
        List<Malformation> cases = List.of(
                new Malformation("wrong unique", r -> r.raw(ScriptedFuseDevice.reply(144, 0, r.header.unique() + 2, good), 144),
                        "another request's"),
                new Malformation("shorter than the header", r -> r.raw(ScriptedFuseDevice.reply(144, 0, r.header.unique(), good), 9),
                        "shorter than the 16-byte fuse_out_header"),
                new Malformation("header len disagrees", r -> r.raw(ScriptedFuseDevice.reply(100, 0, r.header.unique(), good), 144),
                        "fuse_out_header.len is 100 but the device wrote 144"),
                new Malformation("used length past the buffer", r -> r.raw(ScriptedFuseDevice.reply(144, 0, r.header.unique(), good), 4000),
                        "4000 bytes written into a 144-byte reply buffer"),
                new Malformation("truncated entry", r -> r.ok(Arrays.copyOf(good, 120)),
                        "fuse_entry_out: reply body of 120 bytes, expected 128"),
                new Malformation("error with a body", r -> r.raw(ScriptedFuseDevice.reply(24, -Errno.EIO, r.header.unique(), new byte[8]), 24),
                        "carries 8 body bytes"),
                new Malformation("positive error", r -> r.raw(ScriptedFuseDevice.reply(16, 3, r.header.unique(), new byte[0]), 16),
                        "error 3 is not a negated errno"));
        Malformation[] next = {null};
        startAndInit(1, server(r -> {
            if (next[0] != null) {
                next[0].answer().accept(r);
            } else {
                r.ok(good);
            }
        }));
        for (Malformation m : cases) {
            next[0] = m;
            FuseProtocolException e = assertThrows(FuseProtocolException.class, () -> fuse.lookup(1, "victim"), m.name());
            assertTrue(e.getMessage().contains(m.expected()) && e.getMessage().contains("LOOKUP \"victim\""),
                    m.name() + ": " + e.getMessage());
            next[0] = null;
            assertEquals(7, fuse.lookup(1, "fine").nodeId(), "after " + m.name());
        }
        assertEquals(0, fs.inFlight());
    }

    @Test
    void negativeEntryIsEnoentAndErrorsCarryTheirName() {
        startAndInit(1, server(r -> {
            if (r.header.opcode() == FuseOpcode.LOOKUP) {
                r.ok(entry(0, 0).encode());
            } else {
                r.error(Errno.EACCES);
            }
        }));
        FuseException negative = assertThrows(FuseException.class, () -> fuse.lookup(1, "cached-miss"));
        assertEquals(Errno.ENOENT, negative.errno());
        FuseException denied = assertThrows(FuseException.class, () -> fuse.open(FILE_NODE, 2));
        assertEquals("EACCES", denied.errnoName());
        assertTrue(denied.getMessage().contains("OPEN node 5") && denied.getMessage().contains("EACCES (errno 13)"), denied.getMessage());
    }

    @Test
    void aSilentDeviceTimesOutAndAResetFailsWhatItHeld() {
        boolean[] silent = {true};
        startAndInit(1, server(r -> {
            if (!silent[0]) {
                r.ok(entry(8, 0).encode());
            }
        }));
        fs.device().setTimeout(Duration.ofMillis(300));
        long t0 = System.nanoTime();
        CompletableFuture<FuseAttrOut> held = fuse.submitGetattr(FILE_NODE);
        DriverTimeoutException timeout = assertThrows(DriverTimeoutException.class, () -> fuse.lookup(1, "x"));
        assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(5), "bounded wait");
        assertTrue(timeout.getMessage().contains("no used buffer"), timeout.getMessage());
        assertEquals(2, fs.inFlight());

        assertEquals(2, fs.reset(), "both held requests abandoned");
        ExecutionException failed = assertThrows(ExecutionException.class, held::get);
        assertInstanceOf(DeviceResetException.class, failed.getCause());
        assertThrows(IllegalStateException.class, () -> fuse.lookup(1, "x"), "no session after a reset");

        silent[0] = false;
        fs.device().setTimeout(Duration.ofSeconds(10));
        fs.initialize();
        fuse.init();
        assertEquals(8, fuse.lookup(1, "x").nodeId(), "the device works after reset and re-initialisation");
    }

    @Test
    void initRefusesAnotherMajorAndAnAncientMinorButTakesACompatReply() {
        FuseInitOut[] answer = {new FuseInitOut(8, 0, 0, 0, 0, 0, 0, 0, 0, 0)};
        int[] bytes = {64};
        start(1, r -> r.ok(Arrays.copyOf(answer[0].encode(), bytes[0])));
        fs.initialize();
        FuseProtocolException major = assertThrows(FuseProtocolException.class, fuse::init);
        assertTrue(major.getMessage().contains("protocol 8.0"), major.getMessage());
        assertThrows(IllegalStateException.class, fuse::session, "no session after a refused INIT");

        answer[0] = new FuseInitOut(7, 8, 0, 0, 0, 0, 0, 0, 0, 0);
        assertTrue(assertThrows(FuseProtocolException.class, fuse::init).getMessage().contains("7.8"));

        answer[0] = new FuseInitOut(7, 22, 65536, FuseInitFlags.ASYNC_READ | FuseInitFlags.MAX_PAGES, 0, 0, 65536, 0, 1, 0);
        bytes[0] = 24;   // the 7.5..7.22 size: no max_pages
        FuseSession s = fuse.init();
        assertEquals(22, s.minor());
        assertEquals(65536, s.maxWrite());
        assertEquals(FuseInitFlags.ASYNC_READ, s.flags(), "MAX_PAGES was offered but cannot be used without the field");
        assertEquals(32, s.maxPages(), "the default of 32 pages");
        assertEquals(65536, s.maxReadahead());
    }

    @Test
    void listDirectoryFollowsOffsetsAndRefusesAServerThatDoesNotMoveOn() {
        boolean[] stuck = {false};
        startAndInit(1, server(r -> {
            switch (r.header.opcode()) {
                case FuseOpcode.OPENDIR -> r.ok(new FuseOpenOut(77, 0).encode());
                case FuseOpcode.RELEASEDIR -> r.ok(new byte[0]);
                case FuseOpcode.READDIR -> {
                    long offset = r.args().getLong(8);
                    ByteArrayOutputStream out = new ByteArrayOutputStream();
                    if (stuck[0]) {
                        out.writeBytes(new FuseDirent(1, offset, FuseDirent.DT_DIR, ".").encode());
                    } else if (offset == 0) {
                        out.writeBytes(new FuseDirent(1, 1, FuseDirent.DT_DIR, ".").encode());
                        out.writeBytes(new FuseDirent(1, 2, FuseDirent.DT_DIR, "..").encode());
                    } else if (offset == 2) {
                        out.writeBytes(new FuseDirent(9, 3, FuseDirent.DT_REG, "file").encode());
                    }
                    r.ok(out.toByteArray());
                }
                default -> r.error(Errno.ENOSYS);
            }
        }));
        List<FuseDirent> all = fuse.listDirectory(1);
        assertEquals(List.of(".", "..", "file"), all.stream().map(FuseDirent::name).collect(Collectors.toList()));
        assertEquals(List.of(0L, 2L, 3L), device.seen(FuseOpcode.READDIR).stream().map(r -> r.args().getLong(8)).toList());
        assertEquals(77, device.seen(FuseOpcode.RELEASEDIR).get(0).args().getLong(0), "RELEASEDIR of the OPENDIR handle");

        stuck[0] = true;
        FuseProtocolException e = assertThrows(FuseProtocolException.class, () -> fuse.listDirectory(1));
        assertTrue(e.getMessage().contains("does not move past 0"), e.getMessage());
        assertEquals(2, device.seen(FuseOpcode.RELEASEDIR).size(), "the handle is released after the failure too");
    }

    @Test
    void aDeviceWithoutRequestQueuesIsRefused() {
        start(0, r -> r.error(Errno.EIO));
        GuestDriverException e = assertThrows(GuestDriverException.class, fs::initialize);
        assertTrue(e.getMessage().contains("num_request_queues is 0"), e.getMessage());
    }

    @Test
    void requestsBeforeInitAreRefused() {
        start(1, server(r -> r.error(Errno.EIO)));
        fs.initialize();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> fuse.getattr(1));
        assertTrue(e.getMessage().contains("send INIT first"), e.getMessage());
        assertTrue(device.seen.isEmpty(), "nothing reached the device");
    }
}
