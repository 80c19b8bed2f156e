package io.jvmm.emulator.kvm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jvmm.chardev.EventFd;
import io.jvmm.chardev.NativeException;
import io.jvmm.chardev.SharedMemory;
import io.jvmm.pci.mem.GuestMemory;
import io.jvmm.pci.mem.MemoryRegion;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** VM and vCPU ioctls that need no running guest: they succeed, or fail naming what is wrong. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class KvmVmTest {
    private static final int MSR_IA32_SYSENTER_CS = 0x174;
    private static final int MSR_IA32_SYSENTER_ESP = 0x175;

    @Test
    void ioEventFdBadInputIsRefusedClearly() {
        try (KvmFixture f = KvmFixture.create(false); EventFd e = EventFd.create()) {
            IllegalArgumentException len = assertThrows(IllegalArgumentException.class,
                    () -> f.vm.addIoEventFd(0xD0000000L, 3, false, e));
            assertEquals("ioeventfd at MMIO 0xd0000000/3: length must be 1, 2, 4, 8 or 0 (any), got 3", len.getMessage());
            assertThrows(IllegalArgumentException.class, () -> f.vm.addIoEventFd(0xD0000000L, 0, false, e, 1),
                    "datamatch without a length");
            assertThrows(IllegalArgumentException.class, () -> f.vm.addIoEventFd(0xFFFF, 2, true, e),
                    "a port range past 0xffff");

            f.vm.addIoEventFd(0xD0000000L, 4, false, e);
            NativeException dup = assertThrows(NativeException.class, () -> f.vm.addIoEventFd(0xD0000000L, 4, false, e));
            assertTrue(dup.getMessage().startsWith("KVM_IOEVENTFD(MMIO 0xd0000000/4, eventfd " + e.fd() + ")"),
                    dup.getMessage());
            assertEquals("EEXIST", dup.errnoName());
            f.vm.removeIoEventFd(0xD0000000L, 4, false, e);
            NativeException gone = assertThrows(NativeException.class,
                    () -> f.vm.removeIoEventFd(0xD0000000L, 4, false, e));
            assertTrue(gone.getMessage().startsWith("KVM_IOEVENTFD(DEASSIGN, MMIO 0xd0000000/4"), gone.getMessage());

            EventFd closed = EventFd.create();
            closed.close();
            assertThrows(IllegalStateException.class, () -> f.vm.addIoEventFd(0x600, 1, true, closed), "closed eventfd");
        }
    }

    @Test
    void interruptCallsWithoutIrqchipSayWhatIsMissing() {
        try (KvmFixture f = KvmFixture.create(false); EventFd e = EventFd.create()) {
            int gsi = f.vm.allocateGsi();
            String expected = "needs the in-kernel irqchip: call createIrqchip() first";
            assertTrue(assertThrows(IllegalStateException.class, () -> f.vm.setMsiRoute(gsi, 0xFEE00000L, 0x40))
                    .getMessage().endsWith(expected));
            assertTrue(assertThrows(IllegalStateException.class, () -> f.vm.attachIrqfd(e, gsi))
                    .getMessage().startsWith("KVM_IRQFD " + expected));
            assertThrows(IllegalStateException.class, () -> f.vm.signalMsi(0xFEE00000L, 0x40));
            assertThrows(IllegalStateException.class, () -> f.vm.setIrqLine(4, true));
            assertThrows(IllegalStateException.class, f.vm::createPit2);
        }
    }

    @Test
    void routingAndIrqfdsWorkAndRefuseBadInput() {
        try (KvmFixture f = KvmFixture.create(true); EventFd e = EventFd.create(); EventFd other = EventFd.create()) {
            f.vm.createPit2();
            int first = f.vm.allocateGsi();
            int second = f.vm.allocateGsi();
            assertEquals(24, first, "MSI GSIs start above the 24 IOAPIC pins");
            assertEquals(25, second);

            f.vm.setMsiRoute(first, 0xFEE00000L, 0x40);
            f.vm.setMsiRoute(first, 0xFEE00000L, 0x41);   // replacing a route is fine
            f.vm.attachIrqfd(e, first);
            NativeException busy = assertThrows(NativeException.class, () -> f.vm.attachIrqfd(e, first));
            assertEquals("EBUSY", busy.errnoName(), "one eventfd feeds one GSI: " + busy.getMessage());
            assertTrue(busy.getMessage().startsWith("KVM_IRQFD(eventfd " + e.fd() + ", GSI " + first + ")"));
            f.vm.attachIrqfd(other, second);   // an irqfd on a GSI without a route is allowed
            f.vm.detachIrqfd(e, first);
            f.vm.detachIrqfd(other, second);

            IllegalArgumentException notAllocated = assertThrows(IllegalArgumentException.class,
                    () -> f.vm.setMsiRoute(100, 0xFEE00000L, 0x40));
            assertTrue(notAllocated.getMessage().startsWith("GSI 100 is not an allocated MSI GSI"),
                    notAllocated.getMessage());
            assertThrows(IllegalArgumentException.class, () -> f.vm.setMsiRoute(4, 0xFEE00000L, 0x40),
                    "IOAPIC pins are not MSI GSIs");
            assertThrows(IllegalArgumentException.class, () -> f.vm.attachIrqfd(e, 4096));
            assertThrows(IllegalArgumentException.class, () -> f.vm.setIrqLine(-1, true));

            assertTrue(f.vm.removeRoute(first));
            assertFalse(f.vm.removeRoute(first), "no route left to remove");
            f.vm.releaseGsi(first);
            assertThrows(IllegalArgumentException.class, () -> f.vm.releaseGsi(first), "released twice");
            assertEquals(first, f.vm.allocateGsi(), "a released GSI is reused");

            f.vm.setIrqLine(4, true);
            f.vm.setIrqLine(4, false);
            assertFalse(f.vm.signalMsi(0xFEE00000L, 0x40), "the guest's APIC is not enabled: KVM reports it blocked");
        }
    }

    @Test
    void machineSetUpOrderIsEnforced() {
        try (KvmFixture f = KvmFixture.create(true)) {
            assertThrows(IllegalStateException.class, f.vm::createIrqchip, "the irqchip exists already");
            assertThrows(IllegalStateException.class, () -> f.vm.setIdentityMapAddress(0xFFFBC000L),
                    "after a vCPU exists");
            assertThrows(IllegalArgumentException.class, () -> f.vm.setTssAddress(0x1234), "unaligned");
            IllegalArgumentException dup = assertThrows(IllegalArgumentException.class, () -> f.vm.createVcpu(0));
            assertEquals("vCPU 0 already exists", dup.getMessage());
            int max = f.vm.maxVcpus();
            assertTrue(max >= 1);
            assertThrows(IllegalArgumentException.class, () -> f.vm.createVcpu(max));
            assertEquals(List.of(f.vcpu), f.vm.vcpus());
        }
    }

    @Test
    void memoryRegionsBecomeSlotsOnceAndOverlapsAreRefused() {
        try (KvmFixture f = KvmFixture.create(false);
             SharedMemory overlapping = SharedMemory.create("overlap", 4096)) {
            f.vm.mapMemory(f.memory);   // already mapped by the fixture: nothing to do
            MemoryRegion ram = f.memory.regions().get(0);
            assertThrows(IllegalArgumentException.class, () -> f.vm.mapRegion(ram));
            IllegalArgumentException overlap = assertThrows(IllegalArgumentException.class,
                    () -> f.vm.mapRegion(new MemoryRegion("overlap", 0x1000, overlapping)));
            assertTrue(overlap.getMessage().contains("overlaps mapped region"), overlap.getMessage());

            GuestMemory high = new GuestMemory();
            try {
                MemoryRegion extra = high.addRegion("extra", 0x100000000L, SharedMemory.create("extra", 1 << 20));
                f.vm.mapMemory(high);
                f.vm.unmapRegion(extra);
                assertThrows(IllegalArgumentException.class, () -> f.vm.unmapRegion(extra), "not mapped any more");
                assertEquals(1, f.vm.mapRegion(extra), "slot 1 is free again");
            } finally {
                high.close();
            }
        }
    }

    @Test
    void msrsAndMpStateRoundTrip() {
        try (KvmFixture f = KvmFixture.create(true)) {
            Map<Integer, Long> msrs = new LinkedHashMap<>();
            msrs.put(MSR_IA32_SYSENTER_CS, 0x10L);
            msrs.put(MSR_IA32_SYSENTER_ESP, 0xFFFF800000001000L);
            f.vcpu.setMsrs(msrs);
            assertEquals(msrs, f.vcpu.getMsrs(List.of(MSR_IA32_SYSENTER_CS, MSR_IA32_SYSENTER_ESP)));

            Map<Integer, Long> bogus = new LinkedHashMap<>();
            bogus.put(MSR_IA32_SYSENTER_CS, 0x8L);
            bogus.put(0x4B564DFF, 1L);   // in KVM's paravirtual range, never defined
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> f.vcpu.setMsrs(bogus));
            assertEquals("KVM_SET_MSRS: vCPU 0 refused MSR 0x4b564dff = 0x1 (1 of 2 set)", e.getMessage());

            KvmVcpu ap = f.vm.createVcpu(1);
            assertEquals(KvmVcpu.MP_STATE_UNINITIALIZED, ap.getMpState(), "an AP waits for INIT/SIPI");
            ap.setMpState(KvmVcpu.MP_STATE_RUNNABLE);
            assertEquals(KvmVcpu.MP_STATE_RUNNABLE, ap.getMpState());
            assertThrows(IllegalArgumentException.class, () -> ap.setMpState(9));
        }
    }

    @Test
    void registersRoundTripThroughKvm() {
        try (KvmFixture f = KvmFixture.create(false)) {
            Regs r = f.vcpu.getRegs();
            for (Regs.Reg reg : Regs.Reg.values()) {
                if (reg != Regs.Reg.RFLAGS) {
                    r.set(reg, 0x1000L * (reg.ordinal() + 1));
                }
            }
            r.setRflags(Regs.RFLAGS_RESERVED | (1 << 11));
            f.vcpu.setRegs(r);
            assertEquals(r, f.vcpu.getRegs());

            f.loadLongMode(GuestPrograms.LONG_CLI_HLT);
            Sregs s = f.vcpu.getSregs();
            assertEquals(KvmFixture.PML4, s.cr3());
            assertEquals(Segment.code64(LongModeSetup.CODE_SELECTOR), s.cs());
            assertEquals(new DescriptorTable(KvmFixture.GDT, LongModeSetup.GDT_SIZE - 1), s.gdt());
            String dump = f.vcpu.dumpRegisters();
            assertTrue(dump.startsWith("rip=0x10000 rsp=0x40000 rflags=0x2 (IF=0) cpl=0"), dump);
            assertTrue(dump.contains("cr3=0x20000"), dump);
        }
    }
}
