package io.jvmm.pci;

import java.util.concurrent.CompletableFuture;

/**
 * Intercepts guest accesses to a byte range of a device's config space (e.g. MSI-X message
 * control, virtio's PCI_CFG access window). Offsets are relative to the intercepted range; an
 * access that only partly overlaps the range is clipped to it, so {@code size} may be 1..4.
 * Called with the device's config lock held: keep it short, return a completion instead of
 * blocking.
 */
public interface ConfigInterceptor {

    /** Returns what the guest reads, given the stored value of the clipped bytes. */
    int read(int offsetInRange, int size, int storedValue);

    /**
     * Called after a guest write was masked and stored; {@code value} is the written value of
     * the clipped bytes. Returns a completion the vCPU must wait for, or {@code IoCompletion.DONE}.
     */
    CompletableFuture<Void> written(int offsetInRange, int size, int value);
}
