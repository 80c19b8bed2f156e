package io.jvmm.devices.p9.server;

import io.jvmm.chardev.Await;
import io.jvmm.testkit.driver.p9.P9Client;
import io.jvmm.testkit.driver.p9.P9Wire;
import io.jvmm.testkit.driver.p9.P9Wire.Reply;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Tflush, case by case (rule 4), asserting the exact order of replies on the wire. A request is
 * held "running" by the server's test hook, or "not started" by a server slowed with a delay.
 */
class FlushTest {
    @TempDir
    Path dir;
    private ServerFixture fixture;
    private final CountDownLatch release = new CountDownLatch(1);
    private final CountDownLatch held = new CountDownLatch(1);

    private P9Client start(P9ServerConfig config) throws Exception {
        Path root = dir.resolve("export");
        Files.createDirectories(root);
        Files.writeString(root.resolve("f"), "data");
        fixture = new ServerFixture(config, dir);
        P9Client c = fixture.client();
        c.walk(0, 1, "f");
        c.lopen(1, P9Wire.O_RDONLY);
        c.order().clear();
        return c;
    }

    private P9Client startHolding(FlushMode mode) throws Exception {
        P9Client c = start(P9ServerConfig.of(dir.resolve("export"), false, SecurityModel.PASSTHROUGH).withFlush(mode));
        fixture.server.runningHook = r -> {
            if (r.type() == P9.TREAD) {
                held.countDown();
                try {
                    release.await(30, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        };
        return c;
    }

    @AfterEach
    void stop() {
        release.countDown();
        if (fixture != null) {
            fixture.close();
        }
    }

    private static List<Integer> tags(List<Reply> order) {
        return order.stream().map(Reply::tag).toList();
    }

    private int outstanding() {
        return fixture.server.outstandingTags();
    }

    @Test
    void aFlushForAnUnknownTagIsAnsweredAtOnce() throws Exception {
        P9Client c = start(P9ServerConfig.of(dir.resolve("export"), false, SecurityModel.PASSTHROUGH));
        int f = c.flush(4242);
        assertEquals(P9Wire.TFLUSH + 1, c.await(f).type());
        assertEquals(List.of(f), tags(c.order()));
        assertEquals(0, outstanding());
    }

    @Test
    void aFlushForAFinishedTagIsAnsweredAtOnce() throws Exception {
        P9Client c = start(P9ServerConfig.of(dir.resolve("export"), false, SecurityModel.PASSTHROUGH));
        int r = c.send(P9Wire.getattr(1));
        c.await(r);
        int f = c.flush(r);
        assertEquals(P9Wire.TFLUSH + 1, c.await(f).type());
        assertEquals(List.of(r, f), tags(c.order()));
        assertTrue(c.violations().isEmpty(), c.violations().toString());
    }

    @Test
    void aFlushNamingItselfDoesNotWaitOnItself() throws Exception {
        P9Client c = start(P9ServerConfig.of(dir.resolve("export"), false, SecurityModel.PASSTHROUGH));
        int f = c.sendWithTag(P9Wire.flush(77), 77);
        assertEquals(P9Wire.TFLUSH + 1, c.await(f).type());
        assertEquals(0, outstanding());
    }

    @Test
    void aVictimThatHasNotStartedIsCancelledAndOnlyTheRflushGoesOut() throws Exception {
        P9Client c = start(P9ServerConfig.of(dir.resolve("export"), false, SecurityModel.PASSTHROUGH)
                .withDelay(Duration.ofSeconds(30)));
        int victim = c.send(P9Wire.read(1, 0, 4));
        int f = c.flush(victim);
        assertEquals(P9Wire.TFLUSH + 1, c.await(f).type());
        assertTrue(c.await(victim).isEmpty(), "the victim was released by the Rflush, never answered");
        assertEquals(List.of(f), tags(c.order()));
        assertEquals(1, fixture.server.metrics().cancelledCount());
        assertEquals(0, outstanding());
        assertTrue(c.violations().isEmpty(), c.violations().toString());
    }

    @Test
    void severalFlushesForARunningVictimFollowItsReplyInTheOrderReceived() throws Exception {
        P9Client c = startHolding(FlushMode.EXACT);
        int victim = c.send(P9Wire.read(1, 0, 4));
        assertTrue(held.await(30, TimeUnit.SECONDS));
        int f1 = c.flush(victim);
        int f2 = c.flush(victim);
        int f3 = c.flush(victim);
        Await.until(() -> outstanding() == 4, "victim and three flushes held");
        Await.stays(() -> !c.pump(Duration.ofMillis(1)), "nothing is answered while the victim runs");
        release.countDown();
        c.await(f3);
        assertEquals(List.of(victim, f1, f2, f3), tags(c.order()), "the victim's reply, then every Rflush in order");
        assertEquals(P9Wire.TREAD + 1, c.order().get(0).type());
        assertEquals(0, outstanding());
        assertTrue(c.violations().isEmpty(), c.violations().toString());
    }

    @Test
    void aFlushNamingAFlushIsAnsweredAfterTheFlushItNames() throws Exception {
        P9Client c = startHolding(FlushMode.EXACT);
        int victim = c.send(P9Wire.read(1, 0, 4));
        assertTrue(held.await(30, TimeUnit.SECONDS));
        int f1 = c.flush(victim);
        int f2 = c.flush(f1);
        int f3 = c.flush(f2);
        Await.until(() -> outstanding() == 4, "victim and the chain of flushes held");
        release.countDown();
        c.await(f3);
        assertEquals(List.of(victim, f1, f2, f3), tags(c.order()));
        assertEquals(0, outstanding());
        assertTrue(c.violations().isEmpty(), c.violations().toString());
    }

    @Test
    void otherRequestsAreAnsweredWhileAVictimAndItsFlushesWait() throws Exception {
        P9Client c = startHolding(FlushMode.EXACT);
        int victim = c.send(P9Wire.read(1, 0, 4));
        assertTrue(held.await(30, TimeUnit.SECONDS));
        int f1 = c.flush(victim);
        int other = c.send(P9Wire.getattr(1));
        assertEquals(P9Wire.TGETATTR + 1, c.await(other).type());
        assertFalse(c.answered(f1));
        release.countDown();
        c.await(f1);
        assertEquals(List.of(other, victim, f1), tags(c.order()));
    }

    @Test
    void historicModeAnswersOnlyTheFirstFlushAndLeaksTheRest() throws Exception {
        P9Client c = startHolding(FlushMode.HISTORIC);
        int victim = c.send(P9Wire.read(1, 0, 4));
        assertTrue(held.await(30, TimeUnit.SECONDS));
        int f1 = c.flush(victim);
        int f2 = c.flush(victim);
        Await.until(() -> outstanding() == 3, "victim and two flushes held");
        release.countDown();
        c.await(f1);
        Await.stays(() -> !c.pump(Duration.ofMillis(1)), "the second Rflush never comes");
        assertEquals(List.of(victim, f1), tags(c.order()));
        assertEquals(List.of(f2), c.inFlightTags(), "the client still waits for the second Tflush");
        assertEquals(1, outstanding(), "the server holds the dropped Tflush's tag for ever");
    }
}
