package io.jvmm.tests.fs;

import io.jvmm.testkit.driver.fs.Errno;
import io.jvmm.testkit.driver.fs.FsConfig;
import io.jvmm.testkit.driver.fs.FsResponse;
import io.jvmm.testkit.driver.fs.FuseAttr;
import io.jvmm.testkit.driver.fs.FuseAttrOut;
import io.jvmm.testkit.driver.fs.FuseCreated;
import io.jvmm.testkit.driver.fs.FuseDirent;
import io.jvmm.testkit.driver.fs.FuseEntryOut;
import io.jvmm.testkit.driver.fs.FuseException;
import io.jvmm.testkit.driver.fs.FuseInitFlags;
import io.jvmm.testkit.driver.fs.FuseInitOut;
import io.jvmm.testkit.driver.fs.FuseOpcode;
import io.jvmm.testkit.driver.fs.FuseOpenOut;
import io.jvmm.testkit.driver.fs.FuseOutHeader;
import io.jvmm.testkit.driver.fs.FuseProtocolException;
import io.jvmm.testkit.driver.fs.FuseReply;
import io.jvmm.testkit.driver.fs.FuseRequest;
import io.jvmm.testkit.driver.fs.FuseRequests;
import io.jvmm.testkit.driver.fs.FuseWriteOut;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Canned replies, good and malformed, through {@link FuseReply#parse} and the body decoders. */
class FuseReplyCodecTest {
    private static final long UNIQUE = 40;
    static final FuseAttr FILE_ATTR = new FuseAttr(1234, 5000, 16, 1_700_000_000L, 1_700_000_001L, 1_700_000_002L,
            11, 22, 33, 0100644, 1, 1000, 100, 0, 4096, 0);

    /** What the device wrote: out-header with {@code len}, {@code error}, {@code unique}, then the body. */
    static byte[] reply(int len, int error, long unique, byte[] body) {
        byte[] out = new byte[FuseOutHeader.BYTES + body.length];
        System.arraycopy(new FuseOutHeader(len, error, unique).encode(), 0, out, 0, FuseOutHeader.BYTES);
        System.arraycopy(body, 0, out, FuseOutHeader.BYTES, body.length);
        return out;
    }

    /** A well-formed success reply as the transport returns it for {@code request}. */
    static FsResponse ok(FuseRequest request, byte[] body) {
        return response(request, reply(16 + body.length, 0, UNIQUE, body), 16 + body.length);
    }

    static FsResponse response(FuseRequest request, byte[] written, long usedLength) {
        int capacity = request.toTransport(UNIQUE, io.jvmm.testkit.driver.fs.FuseCredentials.ROOT).writableBytes();
        return new FsResponse(Arrays.copyOf(written, (int) Math.min(written.length, Math.min(usedLength, capacity))), usedLength, capacity);
    }

    private static FuseProtocolException malformed(FuseRequest request, FsResponse response) {
        return assertThrows(FuseProtocolException.class, () -> FuseReply.parse(response, request, UNIQUE));
    }

    @Test
    void entryReplyDecodesEveryField() {
        FuseRequest lookup = FuseRequests.lookup(1, "f");
        FuseEntryOut entry = new FuseEntryOut(77, 3, 1, 2, 500, 600, FILE_ATTR);
        byte[] body = entry.encode();
        assertEquals(128, body.length);
        FuseReply reply = FuseReply.parse(ok(lookup, body), lookup, UNIQUE);
        assertEquals(new FuseOutHeader(144, 0, UNIQUE), reply.header());
        FuseEntryOut decoded = FuseEntryOut.decode(reply.body());
        assertEquals(entry, decoded);
        assertTrue(decoded.attr().isRegularFile());
        assertEquals(0644, decoded.attr().permissions());
        ByteBuffer raw = ByteBuffer.wrap(body).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(77, raw.getLong(0), "nodeid first");
        assertEquals(1234, raw.getLong(40), "attr.ino after 40 bytes of entry_out");
        assertEquals(0100644, raw.getInt(40 + 60), "attr.mode");
    }

    @Test
    void errorReplyBecomesFuseExceptionWithTheErrnoName() {
        FuseRequest lookup = FuseRequests.lookup(1, "missing");
        FuseException e = assertThrows(FuseException.class,
                () -> FuseReply.parse(response(lookup, reply(16, -Errno.ENOENT, UNIQUE, new byte[0]), 16), lookup, UNIQUE));
        assertEquals(Errno.ENOENT, e.errno());
        assertEquals("ENOENT", e.errnoName());
        assertEquals(FuseOpcode.LOOKUP, e.opcode());
        assertTrue(e.getMessage().contains("ENOENT") && e.getMessage().contains("\"missing\""), e.getMessage());
    }

    @Test
    void replyShorterThanTheOutHeaderIsMalformed() {
        FuseRequest getattr = FuseRequests.getattr(1, -1);
        FuseProtocolException e = malformed(getattr, response(getattr, reply(16, 0, UNIQUE, new byte[0]), 10));
        assertTrue(e.getMessage().contains("shorter than the 16-byte fuse_out_header"), e.getMessage());
        assertTrue(e.getMessage().contains("GETATTR node 1"), e.getMessage());
        malformed(getattr, response(getattr, new byte[0], 0));
    }

    @Test
    void usedLengthBeyondTheBufferIsMalformed() {
        FuseRequest unlink = FuseRequests.unlink(1, "x");
        FuseProtocolException e = malformed(unlink, response(unlink, reply(24, 0, UNIQUE, new byte[8]), 24));
        assertTrue(e.getMessage().contains("24 bytes written into a 16-byte reply buffer"), e.getMessage());
        malformed(unlink, response(unlink, reply(16, 0, UNIQUE, new byte[0]), 0xFFFF_FFF0L));
    }

    @Test
    void anotherRequestsUniqueIsMalformed() {
        FuseRequest getattr = FuseRequests.getattr(1, -1);
        byte[] body = new FuseAttrOut(1, 0, FILE_ATTR).encode();
        FuseProtocolException e = malformed(getattr, response(getattr, reply(120, 0, UNIQUE + 2, body), 120));
        assertTrue(e.getMessage().contains("unique " + (UNIQUE + 2)), e.getMessage());
    }

    @Test
    void headerLengthDisagreeingWithTheUsedLengthIsMalformed() {
        FuseRequest getattr = FuseRequests.getattr(1, -1);
        byte[] body = new FuseAttrOut(1, 0, FILE_ATTR).encode();
        FuseProtocolException e = malformed(getattr, response(getattr, reply(100, 0, UNIQUE, body), 120));
        assertTrue(e.getMessage().contains("fuse_out_header.len is 100 but the device wrote 120"), e.getMessage());
        malformed(getattr, response(getattr, reply(120, 0, UNIQUE, body), 60));
        malformed(getattr, response(getattr, reply(-1, 0, UNIQUE, body), 120));
    }

    @Test
    void impossibleErrorValuesAndErrorsWithABodyAreMalformed() {
        FuseRequest getattr = FuseRequests.getattr(1, -1);
        assertTrue(malformed(getattr, response(getattr, reply(16, 5, UNIQUE, new byte[0]), 16)).getMessage().contains("error 5"));
        malformed(getattr, response(getattr, reply(16, -4096, UNIQUE, new byte[0]), 16));
        FuseProtocolException e = malformed(getattr, response(getattr, reply(24, -Errno.EIO, UNIQUE, new byte[8]), 24));
        assertTrue(e.getMessage().contains("EIO") && e.getMessage().contains("8 body bytes"), e.getMessage());
        // the largest errno Linux accepts is still a well-formed error
        assertEquals(4095, assertThrows(FuseException.class,
                () -> FuseReply.parse(response(getattr, reply(16, -4095, UNIQUE, new byte[0]), 16), getattr, UNIQUE)).errno());
    }

    @Test
    void fixedStructsMustArriveWhole() {
        FuseProtocolException shortEntry = assertThrows(FuseProtocolException.class, () -> FuseEntryOut.decode(new byte[100]));
        assertTrue(shortEntry.getMessage().contains("fuse_entry_out: reply body of 100 bytes, expected 128"), shortEntry.getMessage());
        assertThrows(FuseProtocolException.class, () -> FuseEntryOut.decode(new byte[136]));
        assertThrows(FuseProtocolException.class, () -> FuseAttrOut.decode(new byte[96]), "the pre-7.9 compat size is not accepted");
        assertThrows(FuseProtocolException.class, () -> FuseOpenOut.decode(new byte[8]));
        assertThrows(FuseProtocolException.class, () -> FuseWriteOut.decode(new byte[4]));
        assertThrows(FuseProtocolException.class, () -> FuseCreated.decode(new byte[128]));
    }

    @Test
    void attrOpenWriteAndCreateRepliesRoundTrip() {
        FuseAttrOut attr = new FuseAttrOut(5, 6, FILE_ATTR);
        assertEquals(attr, FuseAttrOut.decode(attr.encode()));
        assertEquals(104, attr.encode().length);
        assertEquals(new FuseOpenOut(0x1234_5678_9ABCL, 3), FuseOpenOut.decode(new FuseOpenOut(0x1234_5678_9ABCL, 3).encode()));
        assertEquals(4096, FuseWriteOut.decode(new FuseWriteOut(4096).encode()).size());
        FuseEntryOut entry = new FuseEntryOut(9, 1, 0, 0, 0, 0, FILE_ATTR);
        ByteArrayOutputStream both = new ByteArrayOutputStream();
        both.writeBytes(entry.encode());
        both.writeBytes(new FuseOpenOut(17, 0).encode());
        FuseCreated created = FuseCreated.decode(both.toByteArray());
        assertEquals(entry, created.entry());
        assertEquals(17, created.open().fh());
    }

    @Test
    void initReplyOfAnyProtocolSizeIsAccepted() {
        FuseInitOut full = new FuseInitOut(7, 31, 65536, FuseInitFlags.ASYNC_READ | FuseInitFlags.MAX_PAGES, 16, 12,
                1 << 20, 1, 256, 0);
        byte[] bytes = full.encode();
        assertEquals(64, bytes.length);
        assertEquals(full, FuseInitOut.decode(bytes));
        FuseInitOut compat22 = FuseInitOut.decode(Arrays.copyOf(bytes, 24));
        assertEquals(1 << 20, compat22.maxWrite(), "max_write is inside the 7.5..7.22 size");
        assertEquals(0, compat22.maxPages(), "max_pages is not");
        FuseInitOut compat = FuseInitOut.decode(Arrays.copyOf(bytes, 8));
        assertEquals(7, compat.major());
        assertEquals(31, compat.minor());
        assertEquals(0, compat.maxWrite());
        assertThrows(FuseProtocolException.class, () -> FuseInitOut.decode(new byte[7]));
        assertThrows(FuseProtocolException.class, () -> FuseInitOut.decode(new byte[65]));
    }

    @Test
    void initFlags2CountOnlyWithInitExt() {
        ByteBuffer b = ByteBuffer.allocate(64).order(ByteOrder.LITTLE_ENDIAN).putInt(7).putInt(38);
        b.putInt(12, (int) FuseInitFlags.ASYNC_READ).putInt(32, 0x3);   // flags2 at offset 32
        assertEquals(FuseInitFlags.ASYNC_READ, FuseInitOut.decode(b.array()).flags(), "flags2 ignored without INIT_EXT");
        b.putInt(12, (int) (FuseInitFlags.ASYNC_READ | FuseInitFlags.INIT_EXT));
        assertEquals(FuseInitFlags.ASYNC_READ | FuseInitFlags.INIT_EXT | 0x3_0000_0000L, FuseInitOut.decode(b.array()).flags());
        assertEquals("ASYNC_READ|INIT_EXT|SECURITY_CTX|HAS_INODE_DAX", FuseInitFlags.describe(FuseInitOut.decode(b.array()).flags()));
    }

    @Test
    void direntsArePaddedToEightBytesAndDecodeInOrder() {
        List<FuseDirent> entries = List.of(new FuseDirent(1, 1, FuseDirent.DT_DIR, "."),
                new FuseDirent(1, 2, FuseDirent.DT_DIR, ".."),
                new FuseDirent(55, 3, FuseDirent.DT_REG, "exactly8"),
                new FuseDirent(56, 4, FuseDirent.DT_REG, "ünïcode-name.txt"));
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        for (FuseDirent d : entries) {
            byte[] rec = d.encode();
            assertEquals(0, rec.length % 8);
            body.writeBytes(rec);
        }
        assertEquals(32, FuseDirent.recordBytes(8), "24 + 8 needs no padding");
        assertEquals(32, FuseDirent.recordBytes(1));
        assertEquals(40, FuseDirent.recordBytes(9));
        assertEquals(entries, FuseDirent.decodeAll(body.toByteArray()));
        assertEquals(List.of(), FuseDirent.decodeAll(new byte[0]));
    }

    @Test
    void malformedDirentsAreRefusedNamingTheOffset() {
        byte[] one = new FuseDirent(5, 1, FuseDirent.DT_REG, "file").encode();
        byte[] two = new byte[one.length * 2];
        System.arraycopy(one, 0, two, 0, one.length);
        System.arraycopy(one, 0, two, one.length, one.length);

        FuseProtocolException truncatedHeader = assertThrows(FuseProtocolException.class,
                () -> FuseDirent.decodeAll(Arrays.copyOf(two, one.length + 20)));
        assertTrue(truncatedHeader.getMessage().contains("offset " + one.length), truncatedHeader.getMessage());

        FuseProtocolException truncatedName = assertThrows(FuseProtocolException.class,
                () -> FuseDirent.decodeAll(Arrays.copyOf(one, 26)));
        assertTrue(truncatedName.getMessage().contains("needs 32 bytes, only 26 left"), truncatedName.getMessage());

        byte[] noName = one.clone();
        ByteBuffer.wrap(noName).order(ByteOrder.LITTLE_ENDIAN).putInt(16, 0);
        assertTrue(assertThrows(FuseProtocolException.class, () -> FuseDirent.decodeAll(noName)).getMessage().contains("namelen 0"));

        byte[] hugeName = one.clone();
        ByteBuffer.wrap(hugeName).order(ByteOrder.LITTLE_ENDIAN).putInt(16, -1);
        assertTrue(assertThrows(FuseProtocolException.class, () -> FuseDirent.decodeAll(hugeName)).getMessage().contains("namelen 4294967295"));
    }

    @Test
    void aRequestWithoutReplyMustNotBeWritten() {
        FuseRequest forget = FuseRequests.forget(9, 1);
        FuseReply.requireNoReply(new FsResponse(new byte[0], 0, 0), forget, UNIQUE);
        FuseProtocolException e = assertThrows(FuseProtocolException.class,
                () -> FuseReply.requireNoReply(new FsResponse(new byte[0], 16, 0), forget, UNIQUE));
        assertTrue(e.getMessage().contains("FORGET node 9") && e.getMessage().contains("16 bytes"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> FuseReply.parse(new FsResponse(new byte[0], 0, 0), forget, UNIQUE));
    }

    @Test
    void outHeaderNeedsSixteenBytes() {
        assertThrows(FuseProtocolException.class, () -> FuseOutHeader.decode(new byte[15]));
        assertEquals(new FuseOutHeader(16, -2, 8), FuseOutHeader.decode(new FuseOutHeader(16, -2, 8).encode()));
    }

    @Test
    void errnoNamesAndTags() {
        assertEquals("ENOENT", Errno.name(2));
        assertEquals("EEXIST", Errno.name(17));
        assertEquals("ENOTEMPTY", Errno.name(39));
        assertEquals("errno 999", Errno.name(999));
        byte[] tag = new byte[36];
        System.arraycopy("myfs".getBytes(StandardCharsets.UTF_8), 0, tag, 0, 4);
        assertEquals("myfs", FsConfig.decodeTag(tag));
        Arrays.fill(tag, (byte) 'a');
        assertEquals("a".repeat(36), FsConfig.decodeTag(tag), "a 36-byte tag has no NUL");
    }
}
