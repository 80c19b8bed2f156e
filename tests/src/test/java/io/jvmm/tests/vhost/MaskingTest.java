package io.jvmm.tests.vhost;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jvmm.pci.msix.MsiMessage;
import io.jvmm.testkit.driver.GuestInterrupts;
import io.jvmm.testkit.driver.Poll;
import io.jvmm.testkit.driver.pci.MsixDriver;
import io.jvmm.testkit.driver.virtio.Chain;
import io.jvmm.testkit.driver.virtio.QueueSetup;
import io.jvmm.testkit.driver.virtio.SplitQueue;
import io.jvmm.testkit.driver.virtio.VirtioFeatureBits;
import io.jvmm.virtio.vhost.ProtocolFeatures;
import io.jvmm.virtio.vhost.backend.BackendFaults;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Rule 2 against a back-end in a separate process that delays every switch of its call fd:
 * masking and unmasking while completions race with it loses no interrupt, and the historic
 * fire-and-forget SET_VRING_CALL (x-sync-vring=off) does lose them, so the test can fail.
 */
@Timeout(value = 240, unit = TimeUnit.SECONDS)
class MaskingTest {
    private static final Logger log = LoggerFactory.getLogger(MaskingTest.class);
    private static final int CYCLES = Integer.getInteger("jvmm.vhost.maskCycles", 100_000);
    private static final BackendFaults SLOW_CALL_SWITCH = BackendFaults.NONE.withCallSwitchDelay(Duration.ofNanos(20_000));
    private static final long FEATURES = VirtioFeatureBits.RING_EVENT_IDX | VirtioFeatureBits.RING_INDIRECT_DESC;

    @TempDir
    Path dir;

    /** virtio_pci_common_cfg offsets (virtio 1.x 4.1.4.3): queue_select and queue_msix_vector. */
    private static final int QUEUE_SELECT = 0x16;
    private static final int QUEUE_MSIX_VECTOR = 0x1A;

    /** The guest writes a queue's vector as a driver re-balancing interrupts would; returns what reads back. */
    private static int setQueueVector(VhostTestBed bed, int queue, int vector) {
        long common = bed.driver.layout().common().address();
        bed.guest.cpu().writeMmio(common + QUEUE_SELECT, 2, queue);
        bed.guest.cpu().writeMmio(common + QUEUE_MSIX_VECTOR, 2, vector);
        return (int) bed.guest.cpu().readMmio(common + QUEUE_MSIX_VECTOR, 2);
    }

    private static SplitQueue init(VhostTestBed bed) {
        return bed.driver.initialize(FEATURES, List.of(QueueSetup.size(64))).get(0);
    }

    @Test
    void noInterruptLostInMaskUnmaskCyclesWithConcurrentCompletions() {
        try (VhostTestBed bed = VhostTestBed.create(dir, VhostTestBed.Options.defaults().faults(SLOW_CALL_SWITCH))) {
            SplitQueue q = init(bed);
            MaskCycles.Result r = MaskCycles.run(bed.driver, q, CYCLES, Integer.MAX_VALUE, MaskCycles.VERDICT_LOSS_WAIT);
            log.info("x-sync-vring=on: {}", r);
            assertEquals(CYCLES, r.cycles());
            assertEquals(0, r.lost(), () -> r + "\nback-end:\n" + bed.backendOutput());
            assertTrue(r.pendingAtUnmask() > CYCLES / 1000, () -> "completions rarely raced the masking: " + r);
            assertFalse(bed.driver.needsReset());
        }
    }

    @Test
    void withoutReplyAckTheGetFeaturesRoundTripAcknowledgesTheSwitch() {
        BackendFaults oldBackend = SLOW_CALL_SWITCH.withHiddenProtocolFeatures(ProtocolFeatures.bit(ProtocolFeatures.REPLY_ACK));
        try (VhostTestBed bed = VhostTestBed.create(dir, VhostTestBed.Options.defaults().faults(oldBackend))) {
            assertFalse(bed.vhost.frontend().hasProtocolFeature(ProtocolFeatures.REPLY_ACK));
            SplitQueue q = init(bed);
            // The window was really exercised: completions raced the masking (pending at unmask).
            // Whether some also reached the masked notifier after the switch was sent, so that only
            // the drain after the GET_FEATURES round trip delivered them, depends on the host's
            // timing (91 in 10,000 cycles under load, none on an idle machine): more rounds are run
            // while none did, and the count is reported, not required.
            for (int round = 0; round < 3 && (round == 0 || bed.vhost.maskedDrainDeliveries() == 0); round++) {
                MaskCycles.Result now = MaskCycles.run(bed.driver, q, CYCLES / 10, Integer.MAX_VALUE, MaskCycles.VERDICT_LOSS_WAIT);
                log.info("x-sync-vring=on without REPLY_ACK, round {}: {}; drained after the switch: {}", round, now,
                        bed.vhost.maskedDrainDeliveries());
                assertEquals(0, now.lost(), now::toString);
                assertTrue(now.pendingAtUnmask() > 0, () -> "completions never raced the masking: " + now);
            }
        }
    }

    @Test
    void functionMaskCyclesWithConcurrentCompletionsLoseNoInterrupt() {
        try (VhostTestBed bed = VhostTestBed.create(dir, VhostTestBed.Options.defaults().faults(SLOW_CALL_SWITCH))) {
            SplitQueue q = init(bed);
            MaskCycles.Result r = MaskCycles.run(bed.driver, q, CYCLES / 20, Integer.MAX_VALUE, MaskCycles.VERDICT_LOSS_WAIT, true);
            log.info("x-sync-vring=on, function mask: {}", r);
            assertEquals(0, r.lost(), () -> r + "\nback-end:\n" + bed.backendOutput());
            assertTrue(r.pendingAtUnmask() > 0, () -> "completions never raced the function mask: " + r);
            assertFalse(bed.driver.needsReset());
        }
    }

    @Test
    void fireAndForgetCallSwitchLosesInterrupts() {
        VhostTestBed.Options o = VhostTestBed.Options.defaults().faults(SLOW_CALL_SWITCH).syncVring(false);
        try (VhostTestBed bed = VhostTestBed.create(dir, o)) {
            SplitQueue q = init(bed);
            MaskCycles.Result r = MaskCycles.run(bed.driver, q, Math.min(CYCLES, 50_000), 3, MaskCycles.LOSS_WAIT);
            log.info("x-sync-vring=off: {}", r);
            assertTrue(r.lost() > 0, () -> "the historic race lost nothing in " + r);
        }
    }

    @Test
    void pendingBitReadsOneWhileMaskedAndUnmaskDeliversOnce() {
        try (VhostTestBed bed = VhostTestBed.create(dir, VhostTestBed.Options.defaults())) {
            SplitQueue q = init(bed);
            MsixDriver msix = bed.driver.msix();
            int vector = bed.driver.queueVector(0);
            MsiMessage message = q.message();
            GuestInterrupts irq = bed.guest.interrupts();
            long buffer = bed.guest.pages().allocate(256);

            msix.mask(vector);
            long before = irq.count(message);
            q.add(Chain.create().writable(buffer, 256), "masked");
            q.kick();
            Poll.until(() -> q.usedPending() > 0, Duration.ofSeconds(10), () -> "the completion: " + q.describeState());
            Poll.until(() -> msix.isPending(vector), Duration.ofSeconds(10), () -> "the PBA bit of vector " + vector);
            assertEquals(before, irq.count(message), "nothing delivered while masked");
            msix.unmask(vector);
            assertEquals(before + 1, irq.count(message), "one interrupt, delivered by the time the unmasking write completed");
            assertFalse(msix.isPending(vector));
            assertEquals(1, q.takeUsed().size());
        }
    }

    @Test
    void queueVectorChangedAfterDriverOkMovesItsInterrupts() {
        try (VhostTestBed bed = VhostTestBed.create(dir, VhostTestBed.Options.defaults())) {
            SplitQueue q = init(bed);
            GuestInterrupts irq = bed.guest.interrupts();
            MsiMessage queueMessage = q.message();
            MsiMessage configMessage = bed.driver.configMessage();
            long buffer = bed.guest.pages().allocate(64);

            // Move queue 0 from its vector to vector 0 (the config vector), as a guest may after DRIVER_OK.
            assertEquals(0, setQueueVector(bed, 0, 0), "vector 0 accepted");
            long onConfig = irq.count(configMessage);
            long onQueue = irq.count(queueMessage);
            q.add(Chain.create().writable(buffer, 64), "moved");
            q.kick();
            assertTrue(irq.awaitMoreThan(configMessage, onConfig, Duration.ofSeconds(10)), "the completion arrives on the new vector");
            assertEquals(onQueue, irq.count(queueMessage), "nothing on the old vector");
            assertEquals(1, q.takeUsed().size());

            // The new vector masked: the pending bit is set there, and unmasking delivers it.
            MsixDriver msix = bed.driver.msix();
            msix.mask(0);
            onConfig = irq.count(configMessage);
            q.add(Chain.create().writable(buffer, 64), "masked on the new vector");
            q.kick();
            Poll.until(() -> msix.isPending(0), Duration.ofSeconds(10), () -> "the PBA bit of vector 0");
            assertEquals(onConfig, irq.count(configMessage));
            msix.unmask(0);
            assertEquals(onConfig + 1, irq.count(configMessage));
            assertEquals(1, q.takeUsed().size());
            assertFalse(bed.driver.needsReset());
        }
    }

    /**
     * MSI-X disabled after DRIVER_OK: a back-end's completion still reaches the guest, through the
     * ISR's queue bit (virtio 1.x 4.1.5.3), though it arrives by the vector's guest notifier and not
     * through the transport (found by the control-plane explorer: the signal was dropped).
     */
    @Test
    void completionWhileMsixIsDisabledSetsTheIsrQueueBit() {
        try (VhostTestBed bed = VhostTestBed.create(dir, VhostTestBed.Options.defaults().inProcess())) {
            SplitQueue q = init(bed);
            long isr = bed.driver.layout().isr().address();
            long buffer = bed.guest.pages().allocate(64);
            bed.guest.cpu().readMmio(isr, 1);   // acknowledge anything from the initialisation
            bed.driver.msix().disable();
            long before = bed.guest.interrupts().count(q.message());
            q.add(Chain.create().writable(buffer, 64), "MSI-X disabled");
            q.kick();
            Poll.until(() -> q.usedPending() > 0, Duration.ofSeconds(10), () -> "the completion: " + q.describeState());
            int[] seen = new int[1];
            Poll.until(() -> ((seen[0] |= (int) bed.guest.cpu().readMmio(isr, 1)) & 1) != 0, Duration.ofSeconds(10),
                    () -> "the ISR's queue bit after a completion with MSI-X disabled (ISR read 0x" + Integer.toHexString(seen[0]) + ")");
            assertEquals(before, bed.guest.interrupts().count(q.message()), "no MSI while MSI-X is disabled");
            assertEquals(1, q.takeUsed().size());
            assertFalse(bed.driver.needsReset());
        }
    }
}
