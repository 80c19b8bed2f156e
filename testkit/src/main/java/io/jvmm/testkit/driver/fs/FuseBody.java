package io.jvmm.testkit.driver.fs;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/** Size checks shared by the reply decoders: a fixed struct must arrive whole and alone. */
final class FuseBody {
    private FuseBody() {
    }

    /**
     * A little-endian view of {@code body}, which must be exactly {@code bytes} long (as Linux
     * requires of a fixed-size reply: shorter is truncated, longer is garbage).
     */
    static ByteBuffer exact(byte[] body, int bytes, String struct) {
        if (body.length != bytes) {
            throw new FuseProtocolException(String.format("%s: reply body of %d bytes, expected %d", struct, body.length, bytes));
        }
        return ByteBuffer.wrap(body).order(ByteOrder.LITTLE_ENDIAN);
    }
}
