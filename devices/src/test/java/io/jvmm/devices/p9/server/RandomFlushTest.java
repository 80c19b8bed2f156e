package io.jvmm.devices.p9.server;

import io.jvmm.chardev.Await;
import io.jvmm.testkit.driver.p9.P9Client;
import io.jvmm.testkit.driver.p9.P9Wire;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * 100,000 random requests, 32 in flight, with random Tflush: every reply is allowed by the
 * protocol, every request ends exactly once, and afterwards the server holds no request, tag or
 * fid. The same run with x-flush=historic loses replies and leaks tags, and the test says so.
 */
class RandomFlushTest {
    private static final Logger log = LoggerFactory.getLogger(RandomFlushTest.class);
    private static final int FILES = 6;
    private static final String[] NAMES = {"f1", "f2", "f3", "missing", "d"};

    private static P9Client setUp(ServerFixture f) {
        P9Client c = f.client(65536);
        for (int i = 1; i <= FILES; i++) {
            c.walk(0, i, "f" + (1 + (i - 1) % 3));
            c.lopen(i, P9Wire.O_RDONLY);
        }
        c.walk(0, FILES + 1);
        c.lopen(FILES + 1, P9Wire.O_RDONLY);
        return c;
    }

    private static Path export(Path dir) throws Exception {
        Path root = Files.createDirectory(dir.resolve("export"));
        Random r = new Random(1);
        for (int i = 1; i <= 3; i++) {
            byte[] b = new byte[70000];
            r.nextBytes(b);
            Files.write(root.resolve("f" + i), b);
        }
        Files.createDirectory(root.resolve("d"));
        for (int i = 0; i < 50; i++) {
            Files.writeString(root.resolve("d").resolve("e" + i), "x");
        }
        return root;
    }

    @Test
    void aHundredThousandRequestsWithRandomFlushesLeaveNothingBehind(@TempDir Path dir) throws Exception {
        try (ServerFixture f = new ServerFixture(P9ServerConfig.of(export(dir), false, SecurityModel.PASSTHROUGH), dir)) {
            P9Client c = setUp(f);
            RandomFlushRun.Outcome o = new RandomFlushRun(c, 42, 32).run(100_000, FILES, NAMES, Duration.ofSeconds(30));
            log.info("random run: {}", o);
            assertEquals(100_000, o.sent());
            assertTrue(o.violations().isEmpty(), "protocol violations: " + o.violations().subList(0, Math.min(10, o.violations().size())));
            assertEquals(0, o.stillInFlight(), "every request was answered or released by an Rflush");
            assertEquals(o.sent() + o.flushes(), o.answered() + o.released(), "every request ended exactly once");
            assertTrue(o.flushes() > 10_000, "flushes sent: " + o.flushes());
            assertEquals(o.flushes(), f.server.metrics().flushesReceived());
            for (int i = 0; i <= FILES + 1; i++) {
                c.clunk(i);
            }
            assertEquals(0, f.server.outstandingTags(), "no tag held");
            Await.until(() -> f.server.metrics().fidsHeld() == 0, "no fid held (" + f.server.metrics().fidsHeld() + ")");
        }
    }

    @Test
    void theHistoricFlushLosesRepliesAndLeaksTags(@TempDir Path dir) throws Exception {
        P9ServerConfig config = P9ServerConfig.of(export(dir), false, SecurityModel.PASSTHROUGH).withFlush(FlushMode.HISTORIC);
        try (ServerFixture f = new ServerFixture(config, dir)) {
            P9Client c = setUp(f);
            // Eight in flight: the run stalls (and ends) once eight Tflush are lost, instead of 32.
            RandomFlushRun.Outcome o = new RandomFlushRun(c, 42, 8).run(100_000, FILES, NAMES, Duration.ofSeconds(1));
            log.info("historic run: {}, server leaked {} Tflush", o, f.server.outstandingTags());
            assertTrue(o.stillInFlight() > 0, "x-flush=historic: some Tflush were never answered");
            assertTrue(f.server.outstandingTags() > 0, "x-flush=historic: the server still holds their tags");
        }
    }
}
