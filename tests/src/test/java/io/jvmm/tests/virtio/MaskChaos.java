package io.jvmm.tests.virtio;

import io.jvmm.pci.msix.MsiMessage;
import io.jvmm.testkit.driver.GuestInterrupts;
import io.jvmm.testkit.driver.Poll;
import io.jvmm.testkit.driver.blk.VirtioBlkDriver;
import io.jvmm.testkit.driver.pci.MsixDriver;

import java.time.Duration;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Random-I/O hooks that mask the block queue's MSI-X vector (by its own mask bit or by the
 * function mask) at random moments and check, every time the guest would wait for an
 * interrupt while masked, that:
 * <ul>
 * <li>no interrupt is delivered while masked;</li>
 * <li>a completion that arrives while masked sets the vector's bit in the PBA;</li>
 * <li>unmasking delivers the pending interrupt before the unmasking write returns, and clears the bit.</li>
 * </ul>
 * Before masking, the guest collects the used ring (which, with EVENT_IDX, re-arms used_event),
 * so that the next completion is one the device must interrupt for.
 */
final class MaskChaos implements RandomIoWorkload.Hooks {
    private enum Mask { NONE, VECTOR, FUNCTION }

    private static final Duration WAIT = Duration.ofSeconds(20);

    private final VirtioBlkDriver blk;
    private final MsixDriver msix;
    private final int vector;
    private final MsiMessage message;
    private final GuestInterrupts interrupts;
    private final Random random;
    private Mask mask = Mask.NONE;
    private long countAtMask;
    private int maskings;
    private int pendingDelivered;

    MaskChaos(VirtioBlkDriver blk, long seed) {
        this.blk = blk;
        this.msix = blk.device().msix();
        this.vector = blk.device().queueVector(0);
        this.message = blk.queue().message();
        this.interrupts = blk.device().guest().interrupts();
        this.random = new Random(seed);
    }

    @Override
    public void beforeSubmit() {
        if (mask == Mask.NONE && random.nextInt(5) == 0) {
            blk.pollCompletions();   // re-arms used_event: the next completion needs an interrupt
            mask = random.nextBoolean() ? Mask.VECTOR : Mask.FUNCTION;
            if (mask == Mask.VECTOR) {
                msix.mask(vector);
            } else {
                msix.setFunctionMask(true);
            }
            countAtMask = interrupts.count(message);
            maskings++;
        } else if (mask != Mask.NONE && random.nextInt(10) == 0) {
            assertEquals(countAtMask, interrupts.count(message), "an interrupt was delivered while masked");
            unmask();
        }
    }

    @Override
    public void beforeWait() {
        if (mask == Mask.NONE) {
            return;
        }
        if (blk.pollCompletions() > 0 || blk.inFlight() == 0) {
            return;   // something to reap without waiting; stay masked
        }
        assertEquals(countAtMask, interrupts.count(message), "an interrupt was delivered while masked");
        // Requests are in flight and used_event is armed: the device completes one while masked.
        Poll.until(() -> blk.queue().usedPending() > 0, WAIT, () -> "a completion while the vector is masked: " + blk.queue().describeState());
        Poll.until(() -> msix.isPending(vector), WAIT, () -> "the PBA bit of vector " + vector + " while " + mask + " is masked");
        assertEquals(countAtMask, interrupts.count(message), "an interrupt was delivered while masked");
        unmask();
    }

    /**
     * Lifts the mask; the PBA bit must be clear afterwards, and a bit set before must have been
     * delivered by the unmasking write. Every such unmask counts as an exercise of the
     * masked-completion path, whether the guest waited for that completion (beforeWait) or the
     * device was quick enough to complete a request of the masked window on its own: the count
     * then depends on the random masking, not on how fast the device answers.
     */
    void unmask() {
        boolean wasPending = mask != Mask.NONE && msix.isPending(vector);
        if (mask == Mask.VECTOR) {
            msix.unmask(vector);
        } else if (mask == Mask.FUNCTION) {
            msix.setFunctionMask(false);
        }
        mask = Mask.NONE;
        assertFalse(msix.isPending(vector), "the PBA bit stayed set after unmasking");
        if (wasPending) {
            assertTrue(interrupts.count(message) >= countAtMask + 1, "unmasking did not deliver the pending interrupt");
            pendingDelivered++;
        }
    }

    int maskings() {
        return maskings;
    }

    int pendingDelivered() {
        return pendingDelivered;
    }
}
