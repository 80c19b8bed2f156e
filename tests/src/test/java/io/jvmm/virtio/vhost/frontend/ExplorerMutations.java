package io.jvmm.virtio.vhost.frontend;

/**
 * The explorer's access to the test-only mutation hooks of {@link VhostUserDevice}, which are
 * package-private so that only code in this package (this class, in the tests module's test
 * sources) can switch a rule's real mechanism off.
 */
public final class ExplorerMutations {
    private ExplorerMutations() {
    }

    /** Rule 1's wait: the guest's writes and the reset complete without waiting for the back-end's acknowledgements. */
    public static void noAckWait(VhostUserDevice device) {
        device.mutateNoAckWait(true);
    }

    /** Rule 2's drain: leaving the masked notifier, what it holds is not delivered. */
    public static void noMaskedDrain(VhostUserDevice device) {
        device.mutateNoMaskedDrain(true);
    }
}
