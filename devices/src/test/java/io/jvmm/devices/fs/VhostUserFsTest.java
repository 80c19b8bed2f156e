package io.jvmm.devices.fs;

import io.jvmm.chardev.SocketChardevSpec;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

class VhostUserFsTest {
    private static final SocketChardevSpec C0 = SocketChardevSpec.client("c0", Path.of("/tmp/none.sock"));

    @Test
    void configSpaceHoldsTheTagAndTheRequestQueueCount() {
        ByteBuffer b = ByteBuffer.wrap(VhostUserFsConfig.bytes("myfs", 3)).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(40, b.capacity());
        assertEquals('m', b.get(0));
        assertEquals('s', b.get(3));
        assertEquals(0, b.get(4), "NUL-padded");
        assertEquals(3, b.getInt(36));
        ByteBuffer full = ByteBuffer.wrap(VhostUserFsConfig.bytes("a".repeat(36), 1));
        assertEquals('a', full.get(35), "a 36-byte tag fills the field with no terminator");
    }

    @Test
    void badOptionsAreRefusedByName() {
        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> new VhostUserFsOptions("fs0", C0, "", 1, 128, true)).getMessage().contains("tag= is not allowed (1 to 36 bytes)"));
        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> new VhostUserFsOptions("fs0", C0, "x".repeat(37), 1, 128, true)).getMessage().contains("1 to 36 bytes"));
        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> new VhostUserFsOptions("fs0", C0, "t", 0, 128, true)).getMessage().contains("num-request-queues=0 is not allowed (from 1 to 255)"));
        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> new VhostUserFsOptions("fs0", C0, "t", 1, 100, true)).getMessage().contains("queue-size=100 is not allowed (a power of two from 2 to 32768)"));
    }

    @Test
    void aBackendThatIsNotThereFailsRealizeWithAClearError(@TempDir Path dir) {
        VhostUserFsOptions options = new VhostUserFsOptions("fs0",
                SocketChardevSpec.client("c0", dir.resolve("jvmm-no-such-backend.sock")).withConnectTimeout(java.time.Duration.ofMillis(300)),
                "myfs", 1, 128, true);
        RuntimeException e = assertThrows(RuntimeException.class, () -> VhostUserFsDevice.realize(options));
        assertTrue(e.getMessage().contains("jvmm-no-such-backend.sock"), e.getMessage());
    }
}
