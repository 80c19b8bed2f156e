package io.jvmm.tests.racelab;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * jvmm's cells of races (a) and (b) (see {@link JvmmRaces}): the same device type and back-end as
 * on QEMU, both windows widened the same way, on the no-CPU machine. By default nothing is lost,
 * with REPLY_ACK (NEED_REPLY on every ring message) and without it (a GET_FEATURES round trip
 * after each); with {@code x-sync-vring=off}, now QEMU 7.2's order (send, then drain, no wait),
 * interrupts and first requests are lost as on QEMU 7.2. Race (d)'s 9P cells: two Tflush per
 * request are both answered by default; {@code x-flush=historic} drops the second.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class JvmmRacesTest {
    private static final Logger log = LoggerFactory.getLogger(JvmmRacesTest.class);
    private static final int FLIPS = 40;
    private static final int ROUNDS = 8;

    @TempDir
    Path dir;

    @Test
    void raceA_noInterruptLostWithReplyAck() throws Exception {
        JvmmRaces.Flips r = JvmmRaces.affinityFlips(dir, RaceLabFaults.WIDENED_CALL, true, FLIPS, 0);
        log.info("{}", r);
        assertEquals(FLIPS, r.flips(), r::toString);
        assertEquals(0, r.lost(), r::toString);
        assertTrue(BackendStatsLine.value(r.backendStats(), "protocol").contains("REPLY_ACK"), r::toString);
        long[] call = BackendStatsLine.requests(r.backendStats(), "SET_VRING_CALL");
        assertTrue(call[0] >= 2L * FLIPS, () -> "a call fd switch on every mask and unmask: " + r);
        assertEquals(call[0], call[1], () -> "each with NEED_REPLY: " + r);
        assertTrue(BackendStatsLine.number(r.backendStats(), "signals-during-switch") > 0,
                () -> "completions did race the switches (else the test proves nothing): " + r);
    }

    @Test
    void raceA_noInterruptLostWithoutReplyAck() throws Exception {
        JvmmRaces.Flips r = JvmmRaces.affinityFlips(dir, RaceLabFaults.withoutReplyAck(RaceLabFaults.WIDENED_CALL), true, FLIPS, 0);
        log.info("{}", r);
        assertEquals(0, r.lost(), r::toString);
        assertFalse(BackendStatsLine.value(r.backendStats(), "protocol").contains("REPLY_ACK"), r::toString);
        long[] call = BackendStatsLine.requests(r.backendStats(), "SET_VRING_CALL");
        long[] getFeatures = BackendStatsLine.requests(r.backendStats(), "GET_FEATURES");
        assertTrue(getFeatures[0] >= call[0], () -> "a GET_FEATURES round trip acknowledges each switch: " + r);
    }

    @Test
    void raceA_theOldOrderLosesInterrupts() throws Exception {
        JvmmRaces.Flips r = JvmmRaces.affinityFlips(dir, RaceLabFaults.WIDENED_CALL, false, 500, 1);
        log.info("{}", r);
        assertEquals(1, r.lost(), () -> "x-sync-vring=off lost no interrupt in " + r);
        assertFalse(r.stuck(), () -> "the function mask revived the reader: " + r);
        long[] call = BackendStatsLine.requests(r.backendStats(), "SET_VRING_CALL");
        assertEquals(0, call[1], () -> "no NEED_REPLY with x-sync-vring=off: " + r);
    }

    @Test
    void raceB_noFirstRequestLost() throws Exception {
        JvmmRaces.Rounds r = JvmmRaces.firstKickRounds(dir, RaceLabFaults.WIDENED_ENABLE_DROPPING_KICKS, true, ROUNDS, 0);
        log.info("{}", r);
        assertEquals(ROUNDS, r.rounds(), r::toString);
        assertEquals(0, r.lost(), r::toString);
        assertEquals(0, BackendStatsLine.number(r.backendStats(), "kicks-dropped"), r::toString);
    }

    @Test
    void raceB_theOldOrderLosesTheFirstRequest() throws Exception {
        JvmmRaces.Rounds r = JvmmRaces.firstKickRounds(dir, RaceLabFaults.WIDENED_ENABLE_DROPPING_KICKS, false, ROUNDS, 1);
        log.info("{}", r);
        assertEquals(1, r.lost(), () -> "x-sync-vring=off lost no first request in " + r);
        assertTrue(BackendStatsLine.number(r.backendStats(), "kicks-dropped") >= 1, r::toString);
    }

    @Test
    void raceD_everyTflushIsAnsweredAndTheHistoricModeDropsTheSecond() throws Exception {
        JvmmP9DoubleFlush.Rounds exact = JvmmP9DoubleFlush.run(java.nio.file.Files.createDirectory(dir.resolve("exact")), false, 20, 0);
        log.info("9P exact: {}", exact);
        assertEquals(0, exact.lost(), exact::toString);
        assertEquals(0, exact.leakedSlots(), exact::toString);
        JvmmP9DoubleFlush.Rounds historic = JvmmP9DoubleFlush.run(java.nio.file.Files.createDirectory(dir.resolve("historic")), true, 200, 1);
        log.info("9P x-flush=historic: {}", historic);
        assertEquals(1, historic.lost(), () -> "x-flush=historic dropped no second Tflush in " + historic);
        assertEquals(1, historic.leakedSlots(), () -> "the dropped Tflush's ring slot is never returned: " + historic);
    }
}
