package io.jvmm.emulator.machine;

import io.jvmm.chardev.Await;
import io.jvmm.chardev.EventFd;
import io.jvmm.devices.rng.RngDevice;
import io.jvmm.emulator.boot.MemoryLayout;
import io.jvmm.emulator.kvm.Kvm;
import io.jvmm.emulator.kvm.KvmVcpu;
import io.jvmm.emulator.kvm.KvmVm;
import io.jvmm.pci.dispatch.IoCompletion;
import io.jvmm.pci.mem.GuestMemory;
import io.jvmm.pci.msix.Msix;
import io.jvmm.virtio.pci.VirtioPciDevice;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Rule 2 under KVM: a vector's irqfd is attached only while unmasked; a signal on the vector's
 * eventfd while masked (as a back-end in another process would send) lands in the PBA, and the
 * unmask delivers it once, with the route re-attached.
 */
@Timeout(60)
class KvmMsixRoutesTest {
    private Kvm kvm;
    private KvmVm vm;
    private KvmVcpu vcpu;
    private GuestMemory memory;
    private KvmMsixRoutes routes;
    private VirtioPciDevice device;
    private Msix msix;

    @BeforeEach
    void setUp() {
        String why = Kvm.unusableReason();
        Assumptions.assumeTrue(why == null, () -> why + ": KVM tests cannot run");
        kvm = Kvm.open();
        vm = kvm.createVm();
        vm.setTssAddress(MemoryLayout.KVM_TSS_ADDR);
        vm.setIdentityMapAddress(MemoryLayout.KVM_IDENTITY_MAP_ADDR);
        vm.createIrqchip();
        memory = GuestMemory.ofRam("ram", 16 << 20);
        vm.mapMemory(memory);
        vcpu = vm.createVcpu(0);   // an APIC for the MSIs to target
        routes = new KvmMsixRoutes(vm);
        device = new VirtioPciDevice(new RngDevice("rng0"), new KvmRoutesServices(memory, routes));
        msix = device.msix();
        await(msix.tableHandler().write(0, 4, 0xfee00000L));
        await(msix.tableHandler().write(8, 4, 0x41));
        await(msix.tableHandler().write(12, 4, 0));   // unmask vector 0
        await(device.configWrite(msix.capabilityOffset() + 2, 2, Msix.CONTROL_ENABLE));
        assertFalse(msix.isMasked(0));
    }

    @AfterEach
    void tearDown() {
        if (device != null) {
            device.close();
            routes.close();
            vcpu.close();
            vm.close();
            kvm.close();
            memory.close();
        }
    }

    private static void await(java.util.concurrent.CompletableFuture<Void> f) {
        IoCompletion.await(f, Duration.ofSeconds(5), "MSI-X register write");
    }

    @Test
    void aMaskedSignalSetsThePbaAndTheUnmaskDeliversItOnce() throws Exception {
        EventFd fd = routes.vectorEventFd(msix, 0);

        fd.signal();
        assertEquals(0, fd.consume(), "unmasked: KVM's irqfd took the signal itself");
        assertFalse(msix.isPending(0));

        await(msix.tableHandler().write(12, 4, 1));   // mask
        fd.signal();                                   // a back-end signals while masked
        Await.until(() -> msix.isPending(0), "the masked signal to land in the PBA");

        long delivered = routes.delivered();
        await(msix.tableHandler().write(12, 4, 0));   // unmask
        assertFalse(msix.isPending(0));
        assertEquals(delivered + 1, routes.delivered(), "the pending interrupt is delivered exactly once at unmask");

        fd.signal();
        assertEquals(0, fd.consume(), "after the unmask the irqfd is attached again");
        assertEquals(delivered + 1, routes.delivered(), "a signal through the irqfd bypasses the VMM");
    }

    /**
     * An eventfd of someone else's (an ivshmem peer's) connected to vector 0: an irqfd of its own on
     * the route while unmasked (KVM consumes its signals, nothing passes through Java), watched
     * while masked (the PBA bit), and re-attached on unmask with what came in between delivered once.
     */
    @Test
    void aConnectedSourceIsAnIrqfdWhileUnmaskedAndPendingWhileMasked() throws Exception {
        io.jvmm.chardev.EventContext context = io.jvmm.chardev.EventContext.start("kvm-source");
        java.util.concurrent.atomic.AtomicLong seen = new java.util.concurrent.atomic.AtomicLong();
        try (EventFd source = EventFd.create()) {
            io.jvmm.chardev.Registration r = routes.connect(msix, 0, source, context, (result, n) -> seen.addAndGet(n));
            long delivered = routes.delivered();
            source.signal();
            assertEquals(0, source.consume(), "unmasked: KVM's irqfd took the source's signal itself");
            assertEquals(0, seen.get(), "without passing through Java");
            assertEquals(delivered, routes.delivered(), "nor through the VMM's delivery");

            await(msix.tableHandler().write(12, 4, 1));   // mask
            source.signal();
            Await.until(() -> msix.isPending(0), "the masked source signal to land in the PBA");
            assertEquals(1, seen.get(), "a masked signal is watched");
            await(msix.tableHandler().write(12, 4, 0));   // unmask
            assertEquals(delivered + 1, routes.delivered(), "delivered exactly once at unmask");
            source.signal();
            assertEquals(0, source.consume(), "re-attached after the unmask");

            r.cancel();
            source.signal();
            assertEquals(1, source.consume(), "cancelled: the source is no longer an irqfd");
        } finally {
            context.close();
        }
    }

    @Test
    void inProcessSignalsUseTheAttachedIrqfd() {
        long delivered = routes.delivered();
        msix.signal(0);
        assertEquals(delivered + 1, routes.delivered());
        await(msix.tableHandler().write(12, 4, 1));
        msix.signal(0);
        assertEquals(delivered + 1, routes.delivered(), "masked: nothing delivered");
        assertTrue(msix.isPending(0));
    }

    /** The KVM machine's MSI-X services alone: vectors as GSI routes of {@code routes}. */
    private static final class KvmRoutesServices implements io.jvmm.platform.MachineServices {
        private final GuestMemory memory;
        private final KvmMsixRoutes routes;

        KvmRoutesServices(GuestMemory memory, KvmMsixRoutes routes) {
            this.memory = memory;
            this.routes = routes;
        }

        @Override
        public String kind() {
            return "kvm";
        }

        @Override
        public GuestMemory memory() {
            return memory;
        }

        @Override
        public Msix msix(String deviceId, int vectors, io.jvmm.chardev.EventContext context) {
            Msix m = new Msix(deviceId, vectors, routes);
            routes.attach(m, context);
            return m;
        }

        @Override
        public io.jvmm.pci.msix.GuestNotifiers guestNotifiers() {
            return routes::vectorEventFd;
        }

        @Override
        public io.micrometer.core.instrument.MeterRegistry meters() {
            return new io.micrometer.core.instrument.simple.SimpleMeterRegistry();
        }

        @Override
        public void requestExit(int status, String reason) {
        }
    }
}
