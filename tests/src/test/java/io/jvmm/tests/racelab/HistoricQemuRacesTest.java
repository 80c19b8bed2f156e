package io.jvmm.tests.racelab;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.jvmm.tests.vfiouser.QemuRig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The historic races on the historic software: Debian 12's QEMU 7.2 under TCG, Debian's kernel,
 * vhost-user-rng-pci served by the Java back-end in a separate process. One boot: race (b) first
 * (unbind and bind virtio_rng until a first request is lost: QEMU 7.2 sends SET_VRING_ENABLE
 * without waiting, and the driver kicks right after DRIVER_OK, so a back-end that drops kicks on a
 * disabled ring loses it), then race (a) (move the queue vector between the vCPUs until an
 * interrupt is lost: QEMU 7.2 sends SET_VRING_CALL on unmask without waiting and reads its masked
 * notifier at once). The back-end widens both windows (a 20 ms pause before applying each
 * SET_VRING_CALL and SET_VRING_ENABLE), so this short run decides; {@code scripts/race-lab}
 * measures the rates without the widening. The back-end's own count shows that QEMU asked for no
 * reply to either message although REPLY_ACK was agreed.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class HistoricQemuRacesTest {
    @TempDir
    Path dir;

    @Test
    void qemu72LosesTheFirstRequestAndAnInterrupt() throws Exception {
        assumeTrue(Files.isExecutable(QemuRig.HOST_QEMU), "Debian's qemu-system-x86 is not installed (scripts/test installs it)");
        QemuRaces.Run run = QemuRaces.run(QemuRaces.Qemu.HISTORIC, dir, RaceLabFaults.WIDENED_CALL,
                RaceLabFaults.WIDENED_ENABLE_DROPPING_KICKS, new RaceGuestScripts.Plan(4, 1, 40, 1));
        String why = run.why();
        GuestRaceReport r = run.report();
        assertEquals(1, run.exitStatus(), () -> "the guest script finished (status 0): " + why);
        assertNotNull(r.rounds(), () -> "race (b) ran: " + why);
        assertNotNull(r.flips(), () -> "race (a) ran: " + why);
        assertTrue(r.roundsLost() >= 1, () -> "QEMU 7.2 lost no first request in " + r.rounds() + " rounds: " + why);
        assertTrue(BackendStatsLine.number(run.backendStatsB(), "kicks-dropped") >= r.roundsLost(),
                () -> "each lost first request is a kick the back-end dropped on a disabled ring: " + why);
        assertTrue(r.flipsLost() >= 1, () -> "QEMU 7.2 lost no interrupt in " + r.flips() + " flips: " + why);
        assertFalse(r.stuck(), () -> "the lost interrupt came back when the function mask was toggled: " + why);
        long[] call = BackendStatsLine.requests(run.backendStatsA(), "SET_VRING_CALL");
        long[] enable = BackendStatsLine.requests(run.backendStatsB(), "SET_VRING_ENABLE");
        assertTrue(call[0] >= 2L * r.flips(), () -> "QEMU 7.2 switches the call fd on every mask and unmask: " + why);
        assertEquals(0, call[1], () -> "QEMU 7.2 sends SET_VRING_CALL without NEED_REPLY: " + why);
        assertEquals(0, enable[1], () -> "QEMU 7.2 sends SET_VRING_ENABLE without NEED_REPLY: " + why);
        assertTrue(run.protocolFeaturesA().contains("REPLY_ACK") && run.protocolFeaturesB().contains("REPLY_ACK"), () -> "although REPLY_ACK was agreed: " + why);
        System.out.printf("%s: race (b) lost %d of %d first requests, race (a) lost %d interrupts in %d flips (%d ms); %s%n",
                run.qemuVersion(), r.roundsLost(), r.rounds(), r.flipsLost(), r.flips(), run.millis(),
                why.substring(why.indexOf("back-end a"), why.indexOf('\n')));
    }
}
