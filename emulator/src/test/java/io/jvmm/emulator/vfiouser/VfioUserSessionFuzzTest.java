package io.jvmm.emulator.vfiouser;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.AppenderBase;
import com.code_intelligence.jazzer.junit.FuzzTest;
import io.jvmm.chardev.UnixSocketChannel;
import io.jvmm.devices.rng.RngDevice;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.slf4j.LoggerFactory;

/**
 * Fuzz target for what a vfio-user client sends: after a valid VERSION, the fuzzed bytes are the
 * rest of the client's stream, framed by the real {@link MessageChannel} and served by a real
 * {@link VfioUserSession} with a virtio-rng behind it (config space, BARs, MSI-X, DMA map and
 * unmap, IRQ set-up, resets). Every malformed or refused message must be answered with an error
 * reply (or, for a stream that cannot be framed, end the session) and the session must end cleanly
 * at the end of the stream: a failure it logs as "vfio-user connection failed" (an exception no
 * handler turned into an errno) is a bug, and so is a hang. Regression inputs in
 * {@code VfioUserSessionFuzzTestInputs/clientStream/}.
 */
class VfioUserSessionFuzzTest {
    private static final VfioUserServer.Options OPTIONS = new VfioUserServer.Options(16, 1 << 20, 1 << 20, Duration.ofMillis(200));
    private static final List<String> FAILURES = new CopyOnWriteArrayList<>();

    static {
        Logger session = (Logger) LoggerFactory.getLogger(VfioUserSession.class);
        AppenderBase<ILoggingEvent> failures = new AppenderBase<>() {
            @Override
            protected void append(ILoggingEvent e) {
                if (e.getLevel().isGreaterOrEqual(Level.ERROR)) {
                    FAILURES.add(e.getFormattedMessage() + (e.getThrowableProxy() == null ? ""
                            : ": " + e.getThrowableProxy().getClassName() + ": " + e.getThrowableProxy().getMessage()));
                }
            }
        };
        failures.start();
        session.addAppender(failures);
    }

    static byte[] version() {
        byte[] json = "{\"capabilities\":{\"max_msg_fds\":16,\"max_data_xfer_size\":1048576,\"write_multiple\":true}}"
                .getBytes(StandardCharsets.UTF_8);
        int size = VfioUserHeader.SIZE + 4 + json.length + 1;
        ByteBuffer b = ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
        VfioUserHeader.command(0, VfioUserCommand.VERSION, size, false).encode(b);
        b.putShort((short) 0).putShort((short) 0).put(json).put((byte) 0);
        return b.array();
    }

    @FuzzTest(maxDuration = "60s")
    void clientStream(byte[] bytes) throws Exception {
        if (bytes.length > 100_000) {
            return;   // more than a socket buffer holds before the session starts reading
        }
        FAILURES.clear();
        ServedDevice device = ServedDevice.virtio(new RngDevice("rng0"));
        UnixSocketChannel[] pair = UnixSocketChannel.pair();
        Thread drain = new Thread(() -> {
            ByteBuffer sink = ByteBuffer.allocateDirect(64 * 1024);
            try {
                while (true) {
                    io.jvmm.chardev.ReceivedMessage m = pair[1].receive(sink.clear(), 16);
                    io.jvmm.chardev.Fds.closeQuietly(m.fds());   // the client reads its replies and closes their fds
                    if (m.eof()) {
                        break;
                    }
                }
            } catch (RuntimeException closed) {
                // the test is over
            }
        }, "fuzz-client-reader");
        try {
            MessageChannel channel = new MessageChannel(pair[0], OPTIONS.maxMessageSize(), OPTIONS.drainLimit());
            VfioUserSession session = new VfioUserSession(device, channel, OPTIONS);
            drain.start();
            pair[1].send(ByteBuffer.wrap(version()));
            if (bytes.length > 0) {
                pair[1].send(ByteBuffer.wrap(bytes));
            }
            pair[1].shutdownOutput();
            session.run();
        } finally {
            pair[0].close();
            drain.join(10_000);
            pair[1].close();
            device.close();
        }
        assertTrue(FAILURES.isEmpty(), () -> "the session failed instead of refusing: " + FAILURES);
    }
}
