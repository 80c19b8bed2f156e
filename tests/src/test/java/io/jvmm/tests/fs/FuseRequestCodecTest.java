package io.jvmm.tests.fs;

import io.jvmm.testkit.driver.fs.FsRequest;
import io.jvmm.testkit.driver.fs.FuseCredentials;
import io.jvmm.testkit.driver.fs.FuseInHeader;
import io.jvmm.testkit.driver.fs.FuseInitFlags;
import io.jvmm.testkit.driver.fs.FuseOpcode;
import io.jvmm.testkit.driver.fs.FuseRequest;
import io.jvmm.testkit.driver.fs.FuseRequests;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Every request this client sends, encoded byte for byte as fuse.h lays it out. */
class FuseRequestCodecTest {
    private static final FuseCredentials WHO = new FuseCredentials(1000, 100, 42);

    private static ByteBuffer le(byte[] bytes) {
        return ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
    }

    /** The transport form, with the in-header checked against the request. */
    private static FsRequest transport(FuseRequest r, long unique) {
        FsRequest t = r.toTransport(unique, WHO);
        FuseInHeader h = FuseInHeader.decode(t.readable().get(0));
        assertEquals(t.readableBytes(), h.len(), "fuse_in_header.len covers header and arguments");
        assertEquals(r.opcode(), h.opcode());
        assertEquals(unique, h.unique());
        assertEquals(r.nodeId(), h.nodeId());
        assertEquals(1000, h.uid());
        assertEquals(100, h.gid());
        assertEquals(42, h.pid());
        assertEquals(FuseInHeader.BYTES, t.readable().get(0).length);
        return t;
    }

    private static byte[] nameBytes(String name) {
        byte[] utf8 = name.getBytes(StandardCharsets.UTF_8);
        byte[] out = new byte[utf8.length + 1];
        System.arraycopy(utf8, 0, out, 0, utf8.length);
        return out;
    }

    @Test
    void inHeaderHasTheFortyByteLayout() {
        byte[] b = new FuseInHeader(0x1234, 15, 0x1122334455667788L, 0x99L, 7, 8, 9).encode();
        assertEquals(40, b.length);
        ByteBuffer v = le(b);
        assertEquals(0x1234, v.getInt(0));
        assertEquals(15, v.getInt(4));
        assertEquals(0x1122334455667788L, v.getLong(8));
        assertEquals(0x99L, v.getLong(16));
        assertEquals(7, v.getInt(24));
        assertEquals(8, v.getInt(28));
        assertEquals(9, v.getInt(32));
        assertEquals(0, v.getInt(36), "total_extlen and padding");
        assertEquals(new FuseInHeader(0x1234, 15, 0x1122334455667788L, 0x99L, 7, 8, 9), FuseInHeader.decode(b));
    }

    @Test
    void initCarriesVersionReadaheadAndBothFlagWords() {
        long flags = FuseInitFlags.ASYNC_READ | FuseInitFlags.MAX_PAGES | (1L << 33);
        FuseRequest r = FuseRequests.init(7, 31, 65536, flags);
        FsRequest t = transport(r, 2);
        assertEquals(FuseOpcode.INIT, r.opcode());
        assertEquals(0, r.nodeId());
        assertEquals(2, t.readable().size());
        ByteBuffer in = le(t.readable().get(1));
        assertEquals(64, in.capacity(), "fuse_init_in of protocol 7.36+");
        assertEquals(7, in.getInt(0));
        assertEquals(31, in.getInt(4));
        assertEquals(65536, in.getInt(8));
        assertEquals((int) flags, in.getInt(12));
        assertEquals(2, in.getInt(16), "flags2 holds bits 32..63");
        assertEquals(104, t.readableBytes());
        assertEquals(List.of(16, 64), t.writableSizes(), "out-header, then room for the whole fuse_init_out");
    }

    @Test
    void lookupSendsTheNulTerminatedName() {
        FuseRequest r = FuseRequests.lookup(1, "données.txt");
        FsRequest t = transport(r, 4);
        assertArrayEquals(nameBytes("données.txt"), t.readable().get(1));
        assertEquals(List.of(16, 128), t.writableSizes());
        assertTrue(r.description().contains("\"données.txt\""), r.description());
    }

    @Test
    void badNamesAreRefusedBeforeAnythingIsSent() {
        assertThrows(IllegalArgumentException.class, () -> FuseRequests.lookup(1, ""));
        IllegalArgumentException slash = assertThrows(IllegalArgumentException.class, () -> FuseRequests.lookup(1, "a/b"));
        assertTrue(slash.getMessage().contains("a/b"), slash.getMessage());
        assertThrows(IllegalArgumentException.class, () -> FuseRequests.unlink(1, "a\0b"));
        assertThrows(IllegalArgumentException.class, () -> FuseRequests.mkdir(1, "x".repeat(1025), 0755, 0));
        FuseRequests.mkdir(1, "x".repeat(1024), 0755, 0);
    }

    @Test
    void getattrSetsTheHandleFlagOnlyWithAHandle() {
        ByteBuffer plain = le(transport(FuseRequests.getattr(5, -1), 2).readable().get(1));
        assertEquals(16, plain.capacity());
        assertEquals(0, plain.getInt(0));
        assertEquals(0, plain.getLong(8));
        ByteBuffer withFh = le(transport(FuseRequests.getattr(5, 77), 2).readable().get(1));
        assertEquals(FuseRequests.GETATTR_FH, withFh.getInt(0));
        assertEquals(77, withFh.getLong(8));
        assertEquals(List.of(16, 104), FuseRequests.getattr(5, -1).toTransport(2, WHO).writableSizes());
    }

    @Test
    void openAndOpendirCarryTheirFlags() {
        ByteBuffer open = le(transport(FuseRequests.open(9, 02), 2).readable().get(1));
        assertEquals(8, open.capacity());
        assertEquals(02, open.getInt(0));
        assertEquals(0, open.getInt(4), "open_flags");
        FuseRequest dir = FuseRequests.opendir(9);
        assertEquals(FuseOpcode.OPENDIR, dir.opcode());
        assertEquals(List.of(16, 16), transport(dir, 2).writableSizes());
    }

    @Test
    void readAsksForSizeBytesAtOffsetAndOffersThatMuchRoom() {
        FuseRequest r = FuseRequests.read(9, 0xABCDL, 1L << 33, 131072);
        FsRequest t = transport(r, 6);
        ByteBuffer in = le(t.readable().get(1));
        assertEquals(40, in.capacity());
        assertEquals(0xABCDL, in.getLong(0));
        assertEquals(1L << 33, in.getLong(8));
        assertEquals(131072, in.getInt(16));
        assertEquals(0, in.getInt(20), "read_flags");
        assertEquals(0, in.getLong(24), "lock_owner");
        assertEquals(List.of(16, 131072), t.writableSizes());
        assertThrows(IllegalArgumentException.class, () -> FuseRequests.read(9, 1, -1, 4096));
        assertThrows(IllegalArgumentException.class, () -> FuseRequests.read(9, 1, 0, 0));
    }

    @Test
    void readdirUsesReadInWithItsOwnOpcode() {
        FuseRequest r = FuseRequests.readdir(3, 11, 17, 4096);
        assertEquals(FuseOpcode.READDIR, r.opcode());
        ByteBuffer in = le(transport(r, 2).readable().get(1));
        assertEquals(11, in.getLong(0));
        assertEquals(17, in.getLong(8));
        assertEquals(4096, in.getInt(16));
    }

    @Test
    void writeKeepsHeaderStructAndDataInSeparateParts() {
        byte[] data = new byte[5000];
        data[4999] = 9;
        FuseRequest r = FuseRequests.write(9, 3, 4096, data);
        FsRequest t = transport(r, 8);
        assertEquals(3, t.readable().size(), "in-header, fuse_write_in, data: virtiofsd's zero-copy WRITE path relies on it");
        ByteBuffer in = le(t.readable().get(1));
        assertEquals(40, in.capacity());
        assertEquals(3, in.getLong(0));
        assertEquals(4096, in.getLong(8));
        assertEquals(5000, in.getInt(16));
        assertArrayEquals(data, t.readable().get(2));
        assertEquals(40 + 40 + 5000, t.readableBytes());
        assertEquals(List.of(16, 8), t.writableSizes());
        assertThrows(IllegalArgumentException.class, () -> FuseRequests.write(9, 3, 0, new byte[0]));
    }

    @Test
    void createSendsFlagsModeUmaskThenName() {
        FuseRequest r = FuseRequests.create(1, "new", 0101, 0644, 022);
        FsRequest t = transport(r, 2);
        ByteBuffer in = le(t.readable().get(1));
        assertEquals(16, in.capacity());
        assertEquals(0101, in.getInt(0));
        assertEquals(0644, in.getInt(4));
        assertEquals(022, in.getInt(8));
        assertEquals(0, in.getInt(12));
        assertArrayEquals(nameBytes("new"), t.readable().get(2));
        assertEquals(List.of(16, 144), t.writableSizes(), "fuse_entry_out + fuse_open_out");
    }

    @Test
    void mkdirSendsModeUmaskThenName() {
        FsRequest t = transport(FuseRequests.mkdir(1, "d", 0755, 02), 2);
        ByteBuffer in = le(t.readable().get(1));
        assertEquals(8, in.capacity());
        assertEquals(0755, in.getInt(0));
        assertEquals(02, in.getInt(4));
        assertArrayEquals(nameBytes("d"), t.readable().get(2));
        assertEquals(List.of(16, 128), t.writableSizes());
    }

    @Test
    void headerOnlyRepliesOfferJustTheOutHeader() {
        FsRequest unlink = transport(FuseRequests.unlink(1, "gone"), 2);
        assertArrayEquals(nameBytes("gone"), unlink.readable().get(1));
        assertEquals(List.of(16), unlink.writableSizes());

        ByteBuffer release = le(transport(FuseRequests.release(4, 99, 02), 2).readable().get(1));
        assertEquals(24, release.capacity());
        assertEquals(99, release.getLong(0));
        assertEquals(02, release.getInt(8));
        assertEquals(0, release.getInt(12), "release_flags");

        FuseRequest releasedir = FuseRequests.releasedir(4, 98);
        assertEquals(FuseOpcode.RELEASEDIR, releasedir.opcode());
        assertEquals(98, le(transport(releasedir, 2).readable().get(1)).getLong(0));

        ByteBuffer flush = le(transport(FuseRequests.flush(4, 99, 0x55), 2).readable().get(1));
        assertEquals(24, flush.capacity());
        assertEquals(99, flush.getLong(0));
        assertEquals(0x55, flush.getLong(16), "lock_owner");
        assertEquals(List.of(16), FuseRequests.flush(4, 99, 0).toTransport(2, WHO).writableSizes());
    }

    @Test
    void forgetHasNoWritableBufferAtAll() {
        FuseRequest r = FuseRequests.forget(12, 3);
        assertFalse(r.expectsReply());
        FsRequest t = transport(r, 2);
        assertEquals(3, le(t.readable().get(1)).getLong(0));
        assertEquals(8, t.readable().get(1).length);
        assertTrue(t.writableSizes().isEmpty());
        assertEquals(0, t.writableBytes());
        assertThrows(IllegalArgumentException.class, () -> FuseRequests.forget(12, 0));
    }
}
