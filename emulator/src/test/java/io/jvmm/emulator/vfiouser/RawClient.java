package io.jvmm.emulator.vfiouser;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jvmm.chardev.ReceivedMessage;
import io.jvmm.chardev.UnixSocketChannel;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * A raw vfio-user client for tests: sends any bytes (well-formed or not) with any fds and reads
 * replies; helpers for the usual requests. Replies are read with a timeout, so a server that
 * never answers fails the test instead of hanging it.
 */
final class RawClient implements AutoCloseable {
    static final String CAPS = "{\"capabilities\":{\"max_msg_fds\":16,\"max_data_xfer_size\":1048576,\"write_multiple\":true}}";

    final UnixSocketChannel channel;
    private int nextId = 1;

    /** A reply: its header and payload (little-endian, position 0). */
    record Reply(VfioUserHeader header, ByteBuffer payload, int[] fds) {
        boolean isError() {
            return header.isError();
        }

        int errno() {
            return header.error();
        }
    }

    private RawClient(UnixSocketChannel channel) {
        this.channel = channel;
        channel.setReceiveTimeout(Duration.ofSeconds(10));
    }

    static RawClient connect(Path socket) {
        return new RawClient(UnixSocketChannel.connect(socket));
    }

    /** Connects and negotiates the version. */
    static RawClient negotiated(Path socket) {
        RawClient c = connect(socket);
        Reply r = c.version(CAPS);
        assertFalse(r.isError(), "VERSION refused with errno " + r.errno());
        return c;
    }

    int nextId() {
        return nextId++ & 0xffff;
    }

    /** Sends a raw header (any size field) followed by body, with fds. */
    void sendRaw(int id, int command, long sizeField, int flags, byte[] body, int... fds) {
        ByteBuffer b = ByteBuffer.allocate(VfioUserHeader.SIZE + body.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putShort((short) id).putShort((short) command).putInt((int) sizeField).putInt(flags).putInt(0).put(body).flip();
        channel.send(b, fds);
    }

    /** A well-formed command; returns its id. */
    int send(VfioUserCommand command, ByteBuffer payload, boolean noReply, int... fds) {
        byte[] body = new byte[payload == null ? 0 : payload.remaining()];
        if (payload != null) {
            payload.duplicate().get(body);
        }
        int id = nextId();
        sendRaw(id, command.code(), VfioUserHeader.SIZE + body.length, noReply ? VfioUserHeader.FLAG_NO_REPLY : 0, body, fds);
        return id;
    }

    /** Reads one whole message (a reply or a server request). */
    Reply receive() {
        List<Integer> fds = new ArrayList<>();
        ByteBuffer header = ByteBuffer.allocate(VfioUserHeader.SIZE);
        readFully(header, fds);
        header.flip();
        VfioUserHeader h = VfioUserHeader.decode(header);
        ByteBuffer payload = ByteBuffer.allocate((int) h.payloadSize()).order(ByteOrder.LITTLE_ENDIAN);
        readFully(payload, fds);
        payload.flip();
        return new Reply(h, payload, fds.stream().mapToInt(Integer::intValue).toArray());
    }

    private void readFully(ByteBuffer dst, List<Integer> fds) {
        while (dst.hasRemaining()) {
            ReceivedMessage m = channel.receive(dst, 16);
            for (int fd : m.fds()) {
                fds.add(fd);
            }
            if (m.eof()) {
                throw new AssertionError("server closed the connection after " + dst.position() + " of " + dst.capacity() + " bytes");
            }
        }
    }

    /** True if the server has closed the connection (reads end of stream). */
    boolean serverClosed() {
        ByteBuffer one = ByteBuffer.allocate(1);
        try {
            return channel.receive(one, 1).eof();
        } catch (RuntimeException e) {
            return true;
        }
    }

    /** Sends a command and reads its reply, checking the reply matches. */
    Reply request(VfioUserCommand command, ByteBuffer payload, int... fds) {
        int id = send(command, payload, false, fds);
        Reply r = receive();
        assertTrue(r.header().isReply(), "expected a reply, got " + r.header());
        assertEquals(id, r.header().id(), "reply id");
        assertEquals(command.code(), r.header().command(), "reply command");
        return r;
    }

    static ByteBuffer buf(int size) {
        return ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
    }

    Reply version(String json) {
        byte[] j = json.getBytes(StandardCharsets.UTF_8);
        return request(VfioUserCommand.VERSION, buf(4 + j.length + 1).putShort((short) 0).putShort((short) 0).put(j).put((byte) 0).flip());
    }

    Reply regionInfo(int index) {
        return request(VfioUserCommand.DEVICE_GET_REGION_INFO, buf(32).putInt(32).putInt(0).putInt(index).putInt(0).putLong(0).putLong(0).flip());
    }

    Reply irqInfo(int index) {
        return request(VfioUserCommand.DEVICE_GET_IRQ_INFO, buf(16).putInt(16).putInt(0).putInt(index).putInt(0).flip());
    }

    Reply regionRead(int region, long offset, int count) {
        return request(VfioUserCommand.REGION_READ, buf(16).putLong(offset).putInt(region).putInt(count).flip());
    }

    /** Reads a little-endian value of 1..8 bytes from a region; fails on an error reply. */
    long read(int region, long offset, int count) {
        Reply r = regionRead(region, offset, count);
        assertFalse(r.isError(), "REGION_READ region " + region + " @" + offset + " failed with errno " + r.errno());
        long v = 0;
        for (int i = 0; i < count; i++) {
            v |= (r.payload().get(16 + i) & 0xffL) << (8 * i);
        }
        return v;
    }

    Reply regionWrite(int region, long offset, int count, long value) {
        ByteBuffer b = buf(16 + count).putLong(offset).putInt(region).putInt(count);
        for (int i = 0; i < count; i++) {
            b.put((byte) (value >>> (8 * i)));
        }
        return request(VfioUserCommand.REGION_WRITE, b.flip());
    }

    /** Writes a value of 1..8 bytes to a region; fails on an error reply. */
    void write(int region, long offset, int count, long value) {
        Reply r = regionWrite(region, offset, count, value);
        assertFalse(r.isError(), "REGION_WRITE region " + region + " @" + offset + " failed with errno " + r.errno());
    }

    Reply dmaMap(long address, long size, long offset, int flags, int... fd) {
        return request(VfioUserCommand.DMA_MAP, buf(32).putInt(32).putInt(flags).putLong(offset).putLong(address).putLong(size).flip(), fd);
    }

    Reply dmaUnmap(long address, long size, int flags) {
        return request(VfioUserCommand.DMA_UNMAP, buf(24).putInt(24).putInt(flags).putLong(address).putLong(size).flip());
    }

    Reply setIrqs(int flags, int index, int start, int count, byte[] data, int... fds) {
        ByteBuffer b = buf(20 + (data == null ? 0 : data.length)).putInt(20 + (data == null ? 0 : data.length)).putInt(flags)
                .putInt(index).putInt(start).putInt(count);
        if (data != null) {
            b.put(data);
        }
        return request(VfioUserCommand.DEVICE_SET_IRQS, b.flip(), fds);
    }

    @Override
    public void close() {
        channel.close();
    }
}
