package io.jvmm.pci.msix;

import io.jvmm.pci.dispatch.IoCompletion;
import java.util.concurrent.CompletableFuture;

/**
 * Observes a device's MSI-X vectors (vhost-user call fds and KVM routes follow them). Called on
 * the thread that made the change, after the state changed, with the MSI-X lock held and in the
 * order the changes happened: return a completion rather than block, and do not make config
 * accesses to the device from here. A completion returned is what the guest's write waits for
 * (rule 1).
 *
 * <p>"Masked" is the effective mask: vector mask bit, or function mask, or MSI-X disabled.
 */
public interface MsixVectorObserver {

    /** The effective mask of {@code vector} became 1. */
    default CompletableFuture<Void> vectorMasked(int vector) {
        return IoCompletion.DONE;
    }

    /** The effective mask of {@code vector} became 0 (a pending interrupt was already delivered). */
    default CompletableFuture<Void> vectorUnmasked(int vector) {
        return IoCompletion.DONE;
    }

    /** The address or data of {@code vector} changed. */
    default void vectorChanged(int vector, MsiMessage message) {
    }
}
