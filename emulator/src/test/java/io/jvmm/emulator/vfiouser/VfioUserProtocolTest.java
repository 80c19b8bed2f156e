package io.jvmm.emulator.vfiouser;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jvmm.chardev.EventFd;
import io.jvmm.chardev.OpenFiles;
import io.jvmm.chardev.SharedMemory;
import io.jvmm.devices.rng.RngDevice;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import jnr.constants.platform.Errno;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Malformed and refused messages from a raw client: each gets an error reply with the right errno
 * (or, for a stream that cannot be framed, a closed connection), the session keeps serving, and
 * no fd that came with a refused message stays open in the server.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class VfioUserProtocolTest {
    @TempDir
    Path dir;
    private ServedDevice device;
    private VfioUserServer server;
    private Path socket;

    @BeforeEach
    void start() {
        socket = dir.resolve("rng.sock");
        device = ServedDevice.virtio(new RngDevice("rng0"));
        server = VfioUserServer.start(socket, device, VfioUserServer.Options.defaults());
    }

    @AfterEach
    void stop() {
        server.close();
        device.close();
    }

    private static void assertErrno(Errno expected, RawClient.Reply reply) {
        assertTrue(reply.isError(), "expected an error reply, got " + reply.header());
        assertEquals(expected.intValue(), reply.errno(), "errno " + VfioUserException.errnoName(reply.errno()));
        assertEquals(VfioUserHeader.SIZE, reply.header().size(), "an error reply is a bare header");
    }

    /** The session still serves: a well-formed request works. */
    private static void assertStillServing(RawClient c) {
        RawClient.Reply r = c.regionInfo(PciRegions.CONFIG);
        assertFalse(r.isError(), "GET_REGION_INFO after a refused message failed with " + r.errno());
        assertEquals(256, r.payload().getLong(16));
    }

    @Test
    void aCommandBeforeVersionIsRefused() {
        try (RawClient c = RawClient.connect(socket)) {
            assertErrno(Errno.EINVAL, c.regionInfo(PciRegions.CONFIG));
            assertFalse(c.version(RawClient.CAPS).isError());
            assertStillServing(c);
        }
    }

    @Test
    void versionRepliesWithOurCapabilitiesForTheOnesProposed() {
        try (RawClient c = RawClient.connect(socket)) {
            RawClient.Reply r = c.version("{\"capabilities\":{\"max_msg_fds\":4,\"write_multiple\":true}}");
            assertFalse(r.isError());
            assertEquals(0, r.payload().getShort(0));
            assertEquals(0, r.payload().getShort(2));
            byte[] json = new byte[r.payload().limit() - 4];
            r.payload().get(4, json);
            assertEquals(0, json[json.length - 1], "the JSON is NUL-terminated");
            String text = new String(json, 0, json.length - 1);
            assertTrue(text.contains("\"max_msg_fds\":16"), text);
            assertTrue(text.contains("\"write_multiple\":true"), text);
            assertFalse(text.contains("max_data_xfer_size"), "only proposed capabilities come back: " + text);
        }
    }

    @Test
    void badVersionsAreRefused() {
        try (RawClient c = RawClient.connect(socket)) {
            assertErrno(Errno.ENOTSUP, c.request(VfioUserCommand.VERSION, RawClient.buf(4).putShort((short) 1).putShort((short) 0).flip()));
            assertErrno(Errno.EINVAL, c.version("{not json"));
            assertErrno(Errno.EINVAL, c.version("{\"capabilities\":{\"max_msg_fds\":\"many\"}}"));
            assertErrno(Errno.EINVAL, c.request(VfioUserCommand.VERSION, RawClient.buf(6).putShort((short) 0).putShort((short) 0)
                    .put((byte) '{').put((byte) '}').flip()));   // no NUL
            assertErrno(Errno.EINVAL, c.request(VfioUserCommand.VERSION, RawClient.buf(2).putShort((short) 0).flip()));   // short
            assertFalse(c.version(RawClient.CAPS).isError());
            assertErrno(Errno.EINVAL, c.version(RawClient.CAPS));   // only once
            assertStillServing(c);
        }
    }

    @Test
    void aSizeBelowTheHeaderIsRefused() {
        try (RawClient c = RawClient.negotiated(socket)) {
            c.sendRaw(7, VfioUserCommand.DEVICE_GET_INFO.code(), 8, 0, new byte[0]);
            RawClient.Reply r = c.receive();
            assertEquals(7, r.header().id());
            assertErrno(Errno.EINVAL, r);
            assertStillServing(c);
        }
    }

    @Test
    void shortPayloadsAreRefused() {
        try (RawClient c = RawClient.negotiated(socket)) {
            assertErrno(Errno.EINVAL, c.request(VfioUserCommand.REGION_READ, RawClient.buf(8).putLong(0).flip()));
            assertErrno(Errno.EINVAL, c.request(VfioUserCommand.DMA_MAP, RawClient.buf(16).putInt(32).putInt(3).putLong(0).flip()));
            assertErrno(Errno.EINVAL, c.request(VfioUserCommand.DEVICE_SET_IRQS, RawClient.buf(12).putInt(20).putInt(0x24).putInt(2).flip()));
            assertErrno(Errno.EINVAL, c.request(VfioUserCommand.DEVICE_GET_INFO, null));
            // REGION_WRITE whose count promises more data than the message holds
            assertErrno(Errno.EINVAL, c.request(VfioUserCommand.REGION_WRITE,
                    RawClient.buf(18).putLong(0).putInt(PciRegions.CONFIG).putInt(4).putShort((short) 1).flip()));
            assertStillServing(c);
        }
    }

    @Test
    void anOversizedMessageIsSkippedAndRefused() {
        try (RawClient c = RawClient.negotiated(socket)) {
            long size = VfioUserServer.Options.defaults().maxMessageSize() + 1;
            byte[] body = new byte[(int) size - VfioUserHeader.SIZE];
            c.sendRaw(9, VfioUserCommand.REGION_WRITE.code(), size, 0, body);
            RawClient.Reply r = c.receive();
            assertEquals(9, r.header().id());
            assertErrno(Errno.E2BIG, r);
            assertStillServing(c);
        }
    }

    @Test
    void aSizeThatCannotBeSkippedEndsTheConnectionButNotTheServer() {
        try (RawClient c = RawClient.negotiated(socket)) {
            c.sendRaw(11, VfioUserCommand.REGION_WRITE.code(), 0xFFFFFFF0L, 0, new byte[0]);
            assertErrno(Errno.E2BIG, c.receive());
            assertTrue(c.serverClosed(), "the server closes a stream it cannot resynchronise");
        }
        try (RawClient next = RawClient.negotiated(socket)) {
            assertStillServing(next);
        }
    }

    @Test
    void wrongArgszIsRefused() {
        try (RawClient c = RawClient.negotiated(socket)) {
            assertErrno(Errno.EINVAL, c.request(VfioUserCommand.DEVICE_GET_INFO, RawClient.buf(16).putInt(8).flip()));
            assertErrno(Errno.EINVAL, c.request(VfioUserCommand.DEVICE_GET_REGION_INFO,
                    RawClient.buf(32).putInt(16).putInt(0).putInt(7).flip()));
            assertErrno(Errno.EINVAL, c.request(VfioUserCommand.DEVICE_GET_IRQ_INFO, RawClient.buf(16).putInt(4).putInt(0).putInt(2).flip()));
            assertErrno(Errno.EINVAL, c.request(VfioUserCommand.DMA_MAP,
                    RawClient.buf(32).putInt(24).putInt(3).putLong(0).putLong(0).putLong(4096).flip()));
            assertErrno(Errno.EINVAL, c.request(VfioUserCommand.DMA_UNMAP, RawClient.buf(24).putInt(8).putInt(0).putLong(0).putLong(4096).flip()));
            assertErrno(Errno.EINVAL, c.request(VfioUserCommand.DEVICE_SET_IRQS,
                    RawClient.buf(20).putInt(12).putInt(0x21).putInt(2).putInt(0).putInt(0).flip()));
            assertStillServing(c);
        }
    }

    @Test
    void unknownUnsupportedAndMisdirectedCommandsAreRefused() {
        try (RawClient c = RawClient.negotiated(socket)) {
            c.sendRaw(21, 99, VfioUserHeader.SIZE, 0, new byte[0]);
            assertErrno(Errno.ENOSYS, c.receive());
            assertErrno(Errno.ENOTSUP, c.request(VfioUserCommand.DEVICE_FEATURE, RawClient.buf(8).putInt(8).putInt(1 << 16 | 1).flip()));
            assertErrno(Errno.ENOTSUP, c.request(VfioUserCommand.DEVICE_GET_REGION_IO_FDS, RawClient.buf(16).putInt(16).flip()));
            assertErrno(Errno.EINVAL, c.request(VfioUserCommand.DMA_READ, RawClient.buf(16).putLong(0).putLong(4).flip()));
            c.sendRaw(22, VfioUserCommand.DEVICE_GET_INFO.code(), VfioUserHeader.SIZE + 16, 3, RawClient.buf(16).putInt(16).array());
            assertErrno(Errno.EINVAL, c.receive());   // message type 3 is neither command nor reply
            assertStillServing(c);
        }
    }

    @Test
    void outOfRangeRegionsAndInterruptsAreRefused() {
        try (RawClient c = RawClient.negotiated(socket)) {
            assertErrno(Errno.EINVAL, c.regionInfo(9));
            assertErrno(Errno.EINVAL, c.irqInfo(5));
            assertErrno(Errno.EINVAL, c.regionRead(PciRegions.CONFIG, 254, 4));
            assertErrno(Errno.EINVAL, c.regionRead(0, 0, 4));   // BAR0 is not implemented
            assertErrno(Errno.EINVAL, c.regionRead(PciRegions.ROM, 0, 4));
            assertErrno(Errno.E2BIG, c.regionRead(PciRegions.CONFIG, 0, (1 << 20) + 1));
            // MSI-X has 2 vectors (one queue + config): vectors 1..2 do not fit
            assertErrno(Errno.EINVAL, c.setIrqs(DeviceIrqs.DATA_NONE | DeviceIrqs.ACTION_TRIGGER, DeviceIrqs.MSIX, 1, 2, null));
            assertErrno(Errno.EINVAL, c.setIrqs(DeviceIrqs.DATA_NONE | DeviceIrqs.DATA_BOOL | DeviceIrqs.ACTION_TRIGGER, DeviceIrqs.MSIX, 0, 1, null));
            assertStillServing(c);
        }
    }

    @Test
    void aRefusedNoReplyCommandGetsNoReply() {
        try (RawClient c = RawClient.negotiated(socket)) {
            c.send(VfioUserCommand.REGION_WRITE, RawClient.buf(20).putLong(4096).putInt(PciRegions.CONFIG).putInt(4).putInt(1).flip(), true);
            RawClient.Reply r = c.regionInfo(PciRegions.CONFIG);   // the next reply is this one's
            assertFalse(r.isError());
        }
    }

    @Test
    void fdsWhereNoneBelongAreRefusedAndClosed() {
        try (RawClient c = RawClient.negotiated(socket); EventFd e = EventFd.create(); SharedMemory m = SharedMemory.create("t", 4096)) {
            OpenFiles.Identity eventfd = OpenFiles.identity(e.fd());
            OpenFiles.Identity memfd = OpenFiles.identity(m.fd());
            for (int i = 0; i < 20; i++) {
                assertErrno(Errno.EINVAL, c.request(VfioUserCommand.DEVICE_GET_REGION_INFO,
                        RawClient.buf(32).putInt(32).putInt(0).putInt(7).flip(), e.fd(), m.fd()));
                assertErrno(Errno.EINVAL, c.request(VfioUserCommand.DEVICE_RESET, RawClient.buf(4).flip(), e.fd()));
                // SET_IRQS: a memfd is not an eventfd; three fds for one vector; fds with DATA_NONE
                assertErrno(Errno.EINVAL, c.setIrqs(DeviceIrqs.DATA_EVENTFD | DeviceIrqs.ACTION_TRIGGER, DeviceIrqs.MSIX, 0, 1, null, m.fd()));
                assertErrno(Errno.EINVAL, c.setIrqs(DeviceIrqs.DATA_EVENTFD | DeviceIrqs.ACTION_TRIGGER, DeviceIrqs.MSIX, 0, 1, null,
                        e.fd(), e.fd(), e.fd()));
                assertErrno(Errno.EINVAL, c.setIrqs(DeviceIrqs.DATA_NONE | DeviceIrqs.ACTION_TRIGGER, DeviceIrqs.MSIX, 0, 1, null, e.fd()));
                // DMA_MAP with two fds
                assertErrno(Errno.EINVAL, c.dmaMap(0, 4096, 0, 3, m.fd(), m.fd()));
            }
            // A request served after them: the server finished with every refused message (and
            // closed its fds) before reading this one.
            assertStillServing(c);
            OpenFiles.assertOnlyOpenAs(eventfd, "the eventfd sent with refused messages is closed in the server", e.fd());
            OpenFiles.assertOnlyOpenAs(memfd, "the memfd sent with refused messages is closed in the server", m.fd());
        }
    }
}
