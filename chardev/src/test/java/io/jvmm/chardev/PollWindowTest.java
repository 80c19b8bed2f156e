package io.jvmm.chardev;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

/** The adaptive poll window, QEMU's rules: grow on short waits, keep on hits, drop on long waits. */
class PollWindowTest {
    private static final long MAX = 32_768;

    @Test
    void startsWithoutPollingAndGrowsByDoublingUpToTheMaximumOnWaitsPollingCouldHaveCaught() {
        PollWindow w = new PollWindow(MAX);
        assertEquals(0, w.window());
        w.waited(20_000);
        assertEquals(PollWindow.FIRST_NS, w.window());
        w.waited(20_000);
        assertEquals(8_000, w.window());
        w.waited(20_000);
        assertEquals(16_000, w.window());
        w.waited(20_000);
        assertEquals(32_000, w.window());
        w.waited(32_500);
        assertEquals(MAX, w.window(), "capped at the maximum");
        w.waited(MAX);
        assertEquals(MAX, w.window());
    }

    @Test
    void aWaitWithinTheWindowLeavesItAsItIs() {
        PollWindow w = new PollWindow(MAX);
        w.waited(1_000);
        w.waited(5_000);
        assertEquals(8_000, w.window());
        w.waited(7_999);
        assertEquals(8_000, w.window());
    }

    @Test
    void aWaitLongerThanTheMaximumStopsPollingSoAnIdleContextDoesNotSpin() {
        PollWindow w = new PollWindow(MAX);
        w.waited(1_000);
        w.waited(5_000);
        w.waited(MAX + 1);
        assertEquals(0, w.window());
    }

    @Test
    void maximumZeroNeverPollsAndLoweringTheMaximumShrinksTheWindow() {
        PollWindow off = new PollWindow(0);
        off.waited(1);
        off.waited(1);
        assertEquals(0, off.window());

        PollWindow w = new PollWindow(MAX);
        for (int i = 0; i < 5; i++) {
            w.waited(30_000);
        }
        w.setMax(10_000);
        assertEquals(10_000, w.window());
        assertThrows(IllegalArgumentException.class, () -> w.setMax(-1));
    }
}
