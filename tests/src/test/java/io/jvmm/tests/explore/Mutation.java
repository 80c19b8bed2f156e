package io.jvmm.tests.explore;

import io.jvmm.virtio.vhost.backend.BackendFaults;
import io.jvmm.virtio.vhost.frontend.ExplorerMutations;
import io.jvmm.virtio.vhost.frontend.VhostUserDevice;

/**
 * A rule's mechanism switched off in the product code, for the mutation check: the explorer must
 * find a violation with each of them, or it could not tell a correct jvmm from a broken one.
 */
enum Mutation {
    /** The product as it is. */
    NONE("none"),
    /** Rule 1: the guest's write completes before the back-end acknowledged the change ({@code VhostUserDevice} hook). */
    NO_ACK_WAIT("no-ack-wait"),
    /** Rule 2: the masked notifier is not drained on unmask ({@code VhostUserDevice} hook). */
    NO_MASKED_DRAIN("no-masked-drain"),
    /**
     * Rule 3: the back-end forgets a kick on a started but disabled ring (its
     * {@link BackendFaults#dropKicksWhileDisabled()} switch, the same code path).
     */
    NO_RULE3_MEMORY("no-rule3-memory");

    private final String option;

    Mutation(String option) {
        this.option = option;
    }

    String option() {
        return option;
    }

    static Mutation parse(String s) {
        for (Mutation m : values()) {
            if (m.option.equals(s) || m.name().equalsIgnoreCase(s)) {
                return m;
            }
        }
        throw new IllegalArgumentException("unknown mutation '" + s + "' (none, no-ack-wait, no-masked-drain, no-rule3-memory)");
    }

    BackendFaults backendFaults(BackendFaults f) {
        return this == NO_RULE3_MEMORY ? f.withDropKicksWhileDisabled(true) : f;
    }

    void apply(VhostUserDevice device) {
        switch (this) {
            case NO_ACK_WAIT -> ExplorerMutations.noAckWait(device);
            case NO_MASKED_DRAIN -> ExplorerMutations.noMaskedDrain(device);
            default -> {
            }
        }
    }
}
