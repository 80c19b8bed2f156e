package io.jvmm.tests.racelab;

import io.jvmm.virtio.vhost.ProtocolFeatures;
import io.jvmm.virtio.vhost.backend.BackendFaults;
import java.time.Duration;

/** The back-end behaviours the race lab uses. */
public final class RaceLabFaults {
    /** The window widening the tests use so that one short run decides: 20 ms before applying SET_VRING_CALL and SET_VRING_ENABLE. */
    public static final Duration WIDENING = Duration.ofMillis(20);

    /** Race (a)'s back-end, its window widened: the call fd switch applied 20 ms late. */
    public static final BackendFaults WIDENED_CALL = BackendFaults.NONE.withCallSwitchDelay(WIDENING);

    /** Race (b)'s back-end as back-ends without rule 3 are (it drops kicks on a disabled ring), its window widened. */
    public static final BackendFaults DROPPING_KICKS = BackendFaults.NONE.withDropKicksWhileDisabled(true);
    public static final BackendFaults WIDENED_ENABLE_DROPPING_KICKS = DROPPING_KICKS.withEnableDelay(WIDENING);

    /** A back-end as old ones were: no REPLY_ACK. */
    public static BackendFaults withoutReplyAck(BackendFaults f) {
        return f.withHiddenProtocolFeatures(ProtocolFeatures.bit(ProtocolFeatures.REPLY_ACK));
    }

    private RaceLabFaults() {
    }
}
