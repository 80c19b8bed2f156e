package io.jvmm.emulator.vfiouser;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * One complete message as read from the socket: its header, its payload (the bytes after the
 * header, little-endian, read with absolute gets from 0) and the fds that came with it.
 */
public record VfioUserMessage(VfioUserHeader header, ByteBuffer payload, ReceivedFds fds) {

    public VfioUserMessage {
        payload = payload.duplicate().order(ByteOrder.LITTLE_ENDIAN);
    }

    public int payloadSize() {
        return payload.limit();
    }

    /** Fails with EINVAL unless the payload has at least {@code bytes} bytes (naming what needs them). */
    void requirePayload(int bytes, String what) {
        if (payload.limit() < bytes) {
            throw new VfioUserException(jnr.constants.platform.Errno.EINVAL, String.format(
                    "%s payload is %d bytes, %s needs at least %d", name(), payload.limit(), what, bytes));
        }
    }

    int u32(int offset) {
        return payload.getInt(offset);
    }

    long u64(int offset) {
        return payload.getLong(offset);
    }

    String name() {
        return VfioUserCommand.describe(header.command());
    }
}
