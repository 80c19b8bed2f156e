package io.jvmm.virtio.vhost;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Every payload round-trips through its encoder and decoder, and malformed input is refused with a message naming it. */
class CodecTest {
    private static final String PEER = "test peer";

    private static VhostUserMessage msg(VhostUserRequest r, byte[] payload, int... fds) {
        return VhostUserMessage.request(r, false, payload, fds);
    }

    @Test
    void headerRoundTripsAndKeepsFlags() {
        VhostUserHeader h = new VhostUserHeader(VhostUserRequest.SET_VRING_CALL.id(), VhostUserHeader.VERSION | VhostUserHeader.NEED_REPLY, 8);
        ByteBuffer b = ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN);
        h.encode(b);
        b.flip();
        assertEquals(13, b.getInt(0), "request id is the first little-endian u32");
        VhostUserHeader back = VhostUserHeader.decode(b, PEER);
        assertEquals(h, back);
        assertTrue(back.needsReply());
        assertFalse(back.isReply());
        assertEquals(1, back.version());
    }

    @Test
    void headerWithWrongVersionUnknownFlagsOrHugeSizeIsRefused() {
        assertTrue(refusedHeader(1, 0x2, 0).contains("version 2"));
        assertTrue(refusedHeader(1, 0x1 | 0x40, 0).contains("unknown flag bits 0x40"));
        assertTrue(refusedHeader(1, 0x1, 5000).contains("5000 bytes"));
        assertTrue(refusedHeader(1, 0x1, -1).contains("4294967295"));
        VhostUserProtocolException shortHeader = assertThrows(VhostUserProtocolException.class,
                () -> VhostUserHeader.decode(ByteBuffer.allocate(8), PEER));
        assertTrue(shortHeader.getMessage().contains("8 bytes"));
    }

    private static String refusedHeader(int request, int flags, int size) {
        ByteBuffer b = ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN).putInt(request).putInt(flags).putInt(size).flip();
        String m = assertThrows(VhostUserProtocolException.class, () -> VhostUserHeader.decode(b, PEER)).getMessage();
        assertTrue(m.startsWith(PEER), m);
        assertTrue(m.contains("GET_FEATURES"), m);
        return m;
    }

    @Test
    void messageEncodesHeaderThenPayload() {
        VhostUserMessage m = VhostUserMessage.request(VhostUserRequest.SET_FEATURES, true, Payloads.u64(0x1234_5678_9ABCL));
        ByteBuffer wire = m.encode();
        assertEquals(20, wire.remaining());
        assertEquals(2, wire.getInt(0));
        assertEquals(0x9, wire.getInt(4));
        assertEquals(8, wire.getInt(8));
        assertEquals(0x1234_5678_9ABCL, wire.getLong(12));
        VhostUserMessage ack = VhostUserMessage.ack(2, false);
        assertTrue(ack.isReply());
        assertEquals(1, Payloads.decodeU64(ack, PEER));
    }

    @Test
    void u64RoundTripsAndWrongSizeIsRefused() {
        assertEquals(-2L, Payloads.decodeU64(msg(VhostUserRequest.SET_FEATURES, Payloads.u64(-2L)), PEER));
        String m = assertThrows(VhostUserProtocolException.class,
                () -> Payloads.decodeU64(msg(VhostUserRequest.SET_FEATURES, new byte[4]), PEER)).getMessage();
        assertTrue(m.contains("SET_FEATURES") && m.contains("4-byte"), m);
    }

    @Test
    void vringStateRoundTripsWithUnsignedNum() {
        VringState s = new VringState(3, 0xFFFF_FFFFL);
        assertEquals(s, VringState.decode(msg(VhostUserRequest.SET_VRING_BASE, s.encode()), PEER));
        assertThrows(VhostUserProtocolException.class, () -> VringState.decode(msg(VhostUserRequest.SET_VRING_BASE, new byte[12]), PEER));
        assertThrows(IllegalArgumentException.class, () -> new VringState(0, -1));
    }

    @Test
    void vringAddressRoundTrips() {
        VringAddress a = new VringAddress(1, VringAddress.F_LOG, 0x7f00_1000_0000L, 0x7f00_1000_2000L, 0x7f00_1000_1000L, 0x4000);
        byte[] wire = a.encode();
        assertEquals(40, wire.length);
        assertEquals(a, VringAddress.decode(msg(VhostUserRequest.SET_VRING_ADDR, wire), PEER));
        assertThrows(VhostUserProtocolException.class, () -> VringAddress.decode(msg(VhostUserRequest.SET_VRING_ADDR, new byte[32]), PEER));
    }

    @Test
    void vringFdRoundTripsAndMustAgreeWithTheFdsCarried() {
        VringFd withFd = new VringFd(5, false);
        assertEquals(withFd, VringFd.decode(msg(VhostUserRequest.SET_VRING_CALL, withFd.encode(), 42), PEER));
        VringFd noFd = new VringFd(255, true);
        assertEquals(0x1FF, Payloads.decodeU64(msg(VhostUserRequest.SET_VRING_CALL, noFd.encode()), PEER));
        assertEquals(noFd, VringFd.decode(msg(VhostUserRequest.SET_VRING_CALL, noFd.encode()), PEER));

        String missing = assertThrows(VhostUserProtocolException.class,
                () -> VringFd.decode(msg(VhostUserRequest.SET_VRING_KICK, withFd.encode()), PEER)).getMessage();
        assertTrue(missing.contains("needs exactly one fd") && missing.contains("carries 0"), missing);
        assertThrows(VhostUserProtocolException.class, () -> VringFd.decode(msg(VhostUserRequest.SET_VRING_KICK, noFd.encode(), 7), PEER));
        String bits = assertThrows(VhostUserProtocolException.class,
                () -> VringFd.decode(msg(VhostUserRequest.SET_VRING_KICK, Payloads.u64(0x201), 7), PEER)).getMessage();
        assertTrue(bits.contains("beyond the index"), bits);
        assertThrows(IllegalArgumentException.class, () -> new VringFd(256, false));
    }

    @Test
    void memoryTableRoundTripsWithOneFdPerRegion() {
        MemoryTable t = new MemoryTable(List.of(
                new MemoryRegionInfo(0, 0x10_0000, 0x7f00_0000_0000L, 0),
                new MemoryRegionInfo(0x1_0000_0000L, 0x20_0000, 0x7f10_0000_0000L, 0x1000)));
        byte[] wire = t.encode();
        assertEquals(8 + 64, wire.length);
        assertEquals(t, MemoryTable.decode(msg(VhostUserRequest.SET_MEM_TABLE, wire, 10, 11), PEER));
    }

    @Test
    void malformedMemoryTablesAreRefused() {
        MemoryRegionInfo a = new MemoryRegionInfo(0, 0x1000, 0x10_0000, 0);
        byte[] one = new MemoryTable(List.of(a)).encode();
        assertTrue(refusedTable(one).contains("1 regions") && refusedTable(one).contains("0 fds"));
        byte[] lying = one.clone();
        lying[0] = 2;   // says two regions, holds one
        assertTrue(refusedTable(lying, 3, 4).contains("says 2 regions, its payload holds 1"));
        byte[] odd = new byte[8 + 20];
        assertThrows(VhostUserProtocolException.class, () -> MemoryTable.decode(msg(VhostUserRequest.SET_MEM_TABLE, odd), PEER));
        byte[] nine = new byte[8 + 9 * 32];
        assertThrows(VhostUserProtocolException.class, () -> MemoryTable.decode(msg(VhostUserRequest.SET_MEM_TABLE, nine), PEER));

        MemoryRegionInfo overlapGuest = new MemoryRegionInfo(0x800, 0x1000, 0x90_0000, 0);
        assertTrue(refusedTable(rawTable(a, overlapGuest), 3, 4).contains("overlaps"));
        MemoryRegionInfo overlapUser = new MemoryRegionInfo(0x10_0000, 0x1000, 0x10_0800, 0);
        assertTrue(refusedTable(rawTable(a, overlapUser), 3, 4).contains("overlaps"));
        MemoryRegionInfo empty = new MemoryRegionInfo(0, 0, 0x10_0000, 0);
        assertTrue(refusedTable(rawTable(empty), 3).contains("empty"));
    }

    private static byte[] rawTable(MemoryRegionInfo... regions) {
        ByteBuffer b = ByteBuffer.allocate(8 + 32 * regions.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(regions.length).putInt(0);
        for (MemoryRegionInfo r : regions) {
            b.putLong(r.guestAddress()).putLong(r.size()).putLong(r.userAddress()).putLong(r.mmapOffset());
        }
        return b.array();
    }

    private static String refusedTable(byte[] payload, int... fds) {
        return assertThrows(VhostUserProtocolException.class,
                () -> MemoryTable.decode(msg(VhostUserRequest.SET_MEM_TABLE, payload, fds), PEER)).getMessage();
    }

    @Test
    void configRoundTripsAndBadWindowsAreRefused() {
        DeviceConfig c = new DeviceConfig(4, DeviceConfig.F_MIGRATION, new byte[] {9, 8, 7});
        byte[] wire = c.encode();
        assertEquals(15, wire.length);
        DeviceConfig back = DeviceConfig.decode(msg(VhostUserRequest.SET_CONFIG, wire), PEER);
        assertEquals(c, back);
        assertArrayEquals(new byte[] {9, 8, 7}, back.data());

        byte[] sizeLies = wire.clone();
        sizeLies[4] = 5;
        String m = assertThrows(VhostUserProtocolException.class, () -> DeviceConfig.decode(msg(VhostUserRequest.SET_CONFIG, sizeLies), PEER))
                .getMessage();
        assertTrue(m.contains("says 5 config bytes but carries 3"), m);
        byte[] outside = ByteBuffer.allocate(12 + 4).order(ByteOrder.LITTLE_ENDIAN).putInt(254).putInt(4).putInt(0).array();
        assertThrows(VhostUserProtocolException.class, () -> DeviceConfig.decode(msg(VhostUserRequest.SET_CONFIG, outside), PEER));
        assertThrows(VhostUserProtocolException.class, () -> DeviceConfig.decode(msg(VhostUserRequest.GET_CONFIG, new byte[8]), PEER));
        assertThrows(IllegalArgumentException.class, () -> new DeviceConfig(200, 0, new byte[100]));
    }

    @Test
    void payloadKindsEncodeTheSpecificationsSizes() {
        assertTrue(PayloadKind.NONE.accepts(0));
        assertFalse(PayloadKind.NONE.accepts(8));
        assertTrue(PayloadKind.VRING_ADDRESS.accepts(40));
        assertTrue(PayloadKind.MEMORY_TABLE.accepts(8 + 8 * 32));
        assertFalse(PayloadKind.MEMORY_TABLE.accepts(8 + 9 * 32));
        assertTrue(PayloadKind.CONFIG.accepts(12 + 256));
        assertFalse(PayloadKind.CONFIG.accepts(12 + 257));
    }

    @Test
    void requestTableNamesEveryIdAndItsReplies() {
        for (VhostUserRequest r : VhostUserRequest.values()) {
            assertEquals(r, VhostUserRequest.byId(r.id()));
        }
        assertEquals("unknown request 99", VhostUserRequest.describe(99));
        assertTrue(VhostUserRequest.GET_VRING_BASE.alwaysReplies());
        assertFalse(VhostUserRequest.SET_VRING_CALL.alwaysReplies());
        assertTrue(VhostUserRequest.SET_VRING_CALL.carriesFds());
        assertFalse(VhostUserRequest.SET_VRING_ENABLE.carriesFds());
        assertEquals("REPLY_ACK|CONFIG", ProtocolFeatures.describe(ProtocolFeatures.bit(3) | ProtocolFeatures.bit(9)));
    }
}
