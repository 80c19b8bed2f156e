package io.jvmm.tests.racelab;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The same guest, devices and back-ends as {@link HistoricQemuRacesTest} (both windows widened,
 * device b's back-end dropping kicks on a disabled ring) on the fixed upstream: QEMU 11.1 from
 * trixie-backports, in the vfio-user rig's root. It loses no first request (SET_VRING_ENABLE now
 * waits for the back-end: NEED_REPLY with REPLY_ACK) and no interrupt: its vhost-user-rng-pci
 * (the generic vhost-user-base device) no longer switches the call fd when the guest masks a
 * vector at all (under TCG QEMU masks the vector itself; under KVM it detaches the irqfd), and
 * the few SET_VRING_CALLs it does send wait for their acknowledgement too.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class FixedQemuRacesTest {
    @TempDir
    Path dir;

    @Test
    void qemu111LosesNothing() throws Exception {
        QemuRaces.Run run = QemuRaces.run(QemuRaces.Qemu.FIXED, dir, RaceLabFaults.WIDENED_CALL,
                RaceLabFaults.WIDENED_ENABLE_DROPPING_KICKS, new RaceGuestScripts.Plan(4, 0, 40, 0));
        String why = run.why();
        GuestRaceReport r = run.report();
        assertEquals(1, run.exitStatus(), () -> "the guest script finished (status 0): " + why);
        assertEquals(4, r.rounds(), () -> "race (b) ran its rounds: " + why);
        assertEquals(0, r.roundsLost(), () -> "QEMU 11.1 lost a first request: " + why);
        assertEquals(40, r.flips(), () -> "race (a) ran its flips: " + why);
        assertEquals(0, r.flipsLost(), () -> "QEMU 11.1 lost an interrupt: " + why);
        assertFalse(r.stuck(), why);
        long[] call = BackendStatsLine.requests(run.backendStatsA(), "SET_VRING_CALL");
        long[] enable = BackendStatsLine.requests(run.backendStatsB(), "SET_VRING_ENABLE");
        assertTrue(call[0] < r.flips(), () -> "QEMU 11.1 does not switch the call fd on masking: " + why);
        assertEquals(call[0], call[1], () -> "every SET_VRING_CALL with NEED_REPLY: " + why);
        assertEquals(enable[0], enable[1], () -> "every SET_VRING_ENABLE with NEED_REPLY: " + why);
        System.out.printf("%s: race (b) lost %d of %d first requests, race (a) lost %d interrupts in %d flips (%d ms); %s%n",
                run.qemuVersion(), r.roundsLost(), r.rounds(), r.flipsLost(), r.flips(), run.millis(),
                why.substring(why.indexOf("back-end a"), why.indexOf('\n')));
    }
}
