package io.jvmm.tests.virtio;

import io.jvmm.pci.msix.MsiMessage;
import io.jvmm.testkit.driver.GuestInterrupts;
import io.jvmm.testkit.driver.blk.BlkProtocol;
import io.jvmm.testkit.driver.pci.Bar;
import io.jvmm.testkit.driver.pci.BarAllocator;
import io.jvmm.testkit.driver.pci.BarKind;
import io.jvmm.testkit.driver.pci.PciAddress;
import io.jvmm.testkit.driver.pci.PciCapabilityRef;
import io.jvmm.testkit.driver.pci.PciFunction;
import io.jvmm.testkit.driver.pci.PciRegisters;
import io.jvmm.testkit.driver.virtio.VirtioFeatureBits;
import io.jvmm.testkit.driver.virtio.VirtioPciDriver;
import io.jvmm.testkit.driver.virtio.VirtioStatus;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.*;

/** The guest finds, sizes and programs the machine's PCI devices as firmware and an OS would. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class EnumerationTest {
    @TempDir
    Path dir;

    @Test
    void enumeratesHostBridgeBlkAndRng() {
        try (VirtioTestBed bed = VirtioTestBed.create(dir)) {
            List<PciFunction> fns = bed.functions;
            assertEquals(3, fns.size(), () -> "functions found: " + fns);

            PciFunction bridge = fns.get(0);
            assertEquals(new PciAddress(0, 0, 0), bridge.address());
            assertEquals(0x8086, bridge.vendorId());
            assertEquals(0x060000, bridge.classCode());

            PciFunction blk = fns.get(1);
            assertEquals(new PciAddress(0, 1, 0), blk.address());
            assertEquals(0x1AF4, blk.vendorId());
            assertEquals(0x1042, blk.deviceId(), "modern virtio-blk is 0x1040 + 2");
            PciFunction rng = fns.get(2);
            assertEquals(0x1044, rng.deviceId(), "modern virtio-rng is 0x1040 + 4");
            assertFalse(blk.multiFunction());

            // An empty slot answers all ones, which is why the enumerator skipped it.
            assertEquals(PciRegisters.NO_DEVICE, bed.guest.pciConfig().read16(new PciAddress(0, 7, 0), PciRegisters.VENDOR_ID));
            assertEquals(-1, bed.guest.pciConfig().read32(new PciAddress(0, 1, 3), 0), "function 3 of a single-function device");
        }
    }

    @Test
    void parsesCapabilitiesAndAssignsNaturallyAlignedBars() {
        try (VirtioTestBed bed = VirtioTestBed.create(dir)) {
            for (VirtioPciDriver dev : List.of(bed.blk.device(), bed.rng.device())) {
                PciFunction fn = dev.function();
                List<PciCapabilityRef> caps = fn.capabilities();
                assertTrue(caps.stream().anyMatch(c -> c.id() == PciRegisters.CAP_ID_MSIX), () -> fn + " caps " + caps);
                Set<Integer> vendorTypes = caps.stream().filter(c -> c.id() == PciRegisters.CAP_ID_VENDOR)
                        .map(c -> fn.read8(c.offset() + 3)).collect(Collectors.toSet());
                assertTrue(vendorTypes.containsAll(Set.of(1, 2, 3, 5)), () -> fn + " virtio cap types " + vendorTypes);
                assertEquals(dev.deviceType() == 2, vendorTypes.contains(4), "only blk has device config");

                List<Bar> bars = fn.bars();
                assertFalse(bars.isEmpty());
                for (Bar bar : bars) {
                    assertTrue(bar.assigned(), bar::toString);
                    assertEquals(0, bar.address() % bar.size(), () -> bar + " is not naturally aligned");
                    switch (bar.kind()) {
                        case MEM32 -> assertTrue(bar.address() >= BarAllocator.MEM32_BASE && bar.address() + bar.size() <= BarAllocator.MEM32_LIMIT, bar::toString);
                        case MEM64 -> assertTrue(bar.address() >= BarAllocator.MEM64_BASE, bar::toString);
                        case IO -> assertTrue(bar.address() >= BarAllocator.IO_BASE, bar::toString);
                    }
                    // What the guest computed is what the device decodes: the BAR registers read back.
                    long low = fn.read32(PciRegisters.BAR0 + 4 * bar.index()) & 0xFFFF_FFF0L;
                    long high = bar.kind() == BarKind.MEM64 ? (fn.read32(PciRegisters.BAR0 + 4 * bar.index() + 4) & 0xFFFF_FFFFL) << 32 : 0;
                    assertEquals(bar.address(), high | low, bar::toString);
                }
                assertTrue(bars.stream().anyMatch(b -> b.kind() == BarKind.MEM64), "virtio structures live in a 64-bit BAR");
                int command = fn.command();
                assertEquals(PciRegisters.COMMAND_MEMORY | PciRegisters.COMMAND_BUS_MASTER,
                        command & (PciRegisters.COMMAND_MEMORY | PciRegisters.COMMAND_BUS_MASTER | PciRegisters.COMMAND_IO));
            }
            Bar blk4 = bed.blk.device().function().bar(4);
            Bar rng4 = bed.rng.device().function().bar(4);
            assertTrue(blk4.address() + blk4.size() <= rng4.address() || rng4.address() + rng4.size() <= blk4.address(),
                    "BARs of two devices overlap: " + blk4 + " " + rng4);
        }
    }

    @Test
    void programsMsixVectorsWithDistinctMessages() {
        try (VirtioTestBed bed = VirtioTestBed.create(dir)) {
            Set<MsiMessage> all = new HashSet<>();
            for (VirtioPciDriver dev : List.of(bed.blk.device(), bed.rng.device())) {
                assertTrue(dev.msix().isEnabled());
                assertFalse(dev.msix().isFunctionMasked());
                assertEquals(dev.numQueues() + 1, dev.msix().vectorCount(), "config vector plus one per queue");
                for (int v = 0; v < dev.msix().vectorCount(); v++) {
                    MsiMessage m = dev.msix().message(v);
                    assertEquals(GuestInterrupts.MSI_ADDRESS, m.address());
                    assertTrue(all.add(m), "message reused: " + m);
                    assertFalse(dev.msix().isMasked(v));
                    assertFalse(dev.msix().isPending(v));
                }
            }
        }
    }

    @Test
    void negotiatesFeaturesAndReachesDriverOk() {
        try (VirtioTestBed bed = VirtioTestBed.create(dir).initialized()) {
            VirtioPciDriver blk = bed.blk.device();
            long offered = blk.deviceFeatures();
            assertTrue(VirtioFeatureBits.has(offered, VirtioFeatureBits.VERSION_1));
            long negotiated = blk.negotiatedFeatures();
            assertEquals(negotiated, negotiated & offered, "the driver accepted something not offered");
            for (long bit : new long[] {BlkProtocol.F_FLUSH, BlkProtocol.F_SEG_MAX, BlkProtocol.F_SIZE_MAX, BlkProtocol.F_BLK_SIZE,
                    VirtioFeatureBits.RING_EVENT_IDX, VirtioFeatureBits.RING_INDIRECT_DESC}) {
                assertTrue(VirtioFeatureBits.has(negotiated, bit), "bit " + Long.numberOfTrailingZeros(bit) + " not negotiated");
            }
            assertFalse(VirtioFeatureBits.has(offered, BlkProtocol.F_RO), "a writable drive offers RO");
            int expected = VirtioStatus.ACKNOWLEDGE | VirtioStatus.DRIVER | VirtioStatus.FEATURES_OK | VirtioStatus.DRIVER_OK;
            assertEquals(expected, blk.status(), VirtioStatus.describe(blk.status()));
            assertEquals(expected, bed.rng.device().status());
            assertTrue(blk.queueEnabled(0));
        }
    }
}
