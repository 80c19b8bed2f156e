package io.jvmm.tests.vhost;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jvmm.chardev.SocketChardevSpec;
import io.jvmm.emulator.machine.KvmMachine;
import io.jvmm.platform.BuiltDevice;
import io.jvmm.platform.config.MachineConfig;
import io.jvmm.tests.kvm.KvmAvailable;
import io.jvmm.tests.kvm.KvmConfig;
import io.jvmm.tests.kvm.TestGuest;
import io.jvmm.virtio.pci.VirtioPciDevice;
import io.jvmm.virtio.vhost.backend.BackendFaults;
import io.jvmm.virtio.vhost.frontend.VhostUserDevice;
import io.jvmm.virtio.vhost.frontend.VhostUserDeviceOptions;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
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
 * Rule 2 with the KVM irqfd routes: the freestanding test guest drives a vhost-user rng device
 * (the Java back-end in its own process, delaying every switch of its call fd) and masks and
 * unmasks the queue's MSI-X entry, and on every other cycle the whole function, right after each
 * kick, so the completion's interrupt races the masking; under KVM an unmasked vector is an irqfd
 * on a GSI route and a masked one an eventfd watched by jvmm (KvmMsixRoutes), the back-end's call
 * fd being switched between them. Every transfer waits for its interrupt with a watchdog, so a
 * lost one fails the guest. Skips, with the reason, where this host's KVM cannot run a VM.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class KvmMaskingTest {
    private static final Logger log = LoggerFactory.getLogger(KvmMaskingTest.class);
    private static final int CYCLES = 20_000;
    private static final BackendFaults SLOW_CALL_SWITCH = BackendFaults.NONE.withCallSwitchDelay(Duration.ofNanos(20_000));

    @TempDir
    Path dir;

    @Test
    void maskingAroundCompletionsThroughKvmIrqfdRoutesLosesNoInterrupt() throws Exception {
        KvmAvailable.assume();
        Path socket = dir.resolve("vhost.sock");
        try (BackendProcess backend = BackendProcess.start(socket, "fill", 1, SLOW_CALL_SWITCH, false)) {
            MachineConfig config = KvmConfig.parse("256", "1", TestGuest.elf(), null,
                    "rng-mask-cycles=" + CYCLES + " require=rng", true, List.of("memory-backend-memfd,id=mem,size=256M,share=on"),
                    List.of(), List.of(), List.of("isa-debug-exit,iobase=0x501,iosize=2"));
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            KvmMachine.MachineExit exit;
            long drained;
            String broken;
            try (KvmMachine machine = KvmMachine.create(config, out)) {
                VhostUserDevice vhost = VhostUserDevice.realize(VhostUserDeviceOptions.of("vhost0",
                        SocketChardevSpec.client("vhost0-chr", socket).withConnectTimeout(Duration.ofSeconds(30))), VhostTestBed.RNG_MODEL);
                try {
                    machine.plug(new BuiltDevice.Pci(new VirtioPciDevice(vhost, machine)));
                } catch (RuntimeException e) {
                    vhost.close();
                    throw e;
                }
                exit = machine.run();
                drained = vhost.maskedDrainDeliveries();
                broken = vhost.unavailableReason();
            }
            String console = out.toString(StandardCharsets.US_ASCII);
            log.info("KVM, {} mask cycles: interrupts the masked-notifier drain delivered: {}", CYCLES, drained);
            assertEquals(TestGuest.PASS, exit.status(), () -> console + "\n" + exit.reason() + "\nback-end:\n" + backend.output());
            assertTrue(console.contains("rng: mask cycles " + CYCLES + " ok"), console);
            assertNull(broken, "the device stayed healthy");
        }
    }
}
