package io.jvmm.emulator.kvm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jvmm.chardev.NativeException;
import io.jvmm.emulator.kvm.RecordingExitHandler.Access;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** KVM_RUN round trips with tiny guests: port I/O (string I/O too), MMIO, halting, failing. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class KvmRunLoopTest {

    @Test
    void realModeGuestPortIoReachesTheHandlerWithPortSizeAndValue() {
        try (KvmFixture f = KvmFixture.create(false)) {
            f.loadRealMode(GuestPrograms.REAL_IO_IMAGE, KvmFixture.REAL_MODE_CODE);
            // rep insb from 0x504 reads 0x61, 0x62, ... so the order of the eight reads is visible.
            int[] next = {0x61};
            RecordingExitHandler h = new RecordingExitHandler().answeringIo((port, size) -> switch (port.intValue()) {
                case 0x501 -> 0x5A;
                case 0x502 -> 0x12345678L;
                case 0x504 -> next[0]++;
                default -> 0;
            });

            assertEquals(ExitReason.HLT, f.vcpu.run(h));

            assertEquals(List.of(Access.ioWrite(0x500, 2, 0xBEEF), Access.ioWrite(0x500, 4, 0xDEADBEEFL)),
                    h.at(true, 0x500));
            assertEquals(List.of(Access.ioRead(0x501, 1, 0x5A)), h.at(true, 0x501));
            assertEquals(List.of(Access.ioWrite(0x502, 1, 0x5A), Access.ioRead(0x502, 4, 0x12345678L)),
                    h.at(true, 0x502), "the guest echoes what IN returned, and reads a dword");
            assertEquals(List.of(Access.ioWrite(0x503, 4, 0x12345678L)), h.at(true, 0x503));
            assertEquals("H" + GuestPrograms.REAL_IO_MESSAGE, h.serialText(), "rep outsb must deliver every byte in order");
            byte[] inserted = new byte[8];
            f.memory.read(0x3000, inserted, 0, 8);
            assertArrayEquals("abcdefgh".getBytes(StandardCharsets.US_ASCII), inserted, "rep insb stores each IN in order");
            assertEquals(List.of(Access.ioWrite(0x506, 2, 0x1111), Access.ioWrite(0x506, 2, 0x2222),
                    Access.ioWrite(0x506, 2, 0x3333)), h.at(true, 0x506));
            assertTrue(f.vcpu.ioExitCount() >= 8, "one exit per OUT/IN at least, got " + f.vcpu.ioExitCount());
            assertEquals(1, f.vcpu.hltExitCount());
            assertEquals(0x1047, f.vcpu.getRegs().rip(), "rip is after the hlt");
        }
    }

    @Test
    void longModeGuestEnteredDirectlyWritesToTheSerialPort() {
        try (KvmFixture f = KvmFixture.create(false)) {
            f.loadLongMode(GuestPrograms.LONG_SERIAL_IMAGE);
            RecordingExitHandler h = new RecordingExitHandler();

            assertEquals(ExitReason.HLT, f.vcpu.run(h));

            assertEquals("A" + GuestPrograms.LONG_SERIAL_MESSAGE, h.serialText());
            Sregs s = f.vcpu.getSregs();
            assertTrue((s.efer() & Sregs.EFER_LMA) != 0, "the guest ran in long mode: " + s);
            assertEquals(KvmFixture.CODE + 0x16, f.vcpu.getRegs().rip());
        }
    }

    @Test
    void mmioWritesAndReadsRoundTripThroughTheHandler() {
        try (KvmFixture f = KvmFixture.create(false)) {
            f.loadLongMode(GuestPrograms.LONG_MMIO);
            RecordingExitHandler h = new RecordingExitHandler().answeringMmio((address, size) ->
                    address == 0xD0000008L ? 0xCAFEF00DL : address == 0xD0000010L ? 0x1122334455667788L : -1);

            assertEquals(ExitReason.HLT, f.vcpu.run(h));

            assertEquals(List.of(
                    Access.mmioWrite(0xD0000000L, 4, 0x12345678L),
                    Access.mmioWrite(0xD0000004L, 1, 0xAB),
                    Access.mmioRead(0xD0000008L, 4, 0xCAFEF00DL),
                    Access.mmioRead(0xD0000010L, 8, 0x1122334455667788L),
                    Access.mmioWrite(0xD0000018L, 8, 0x8877665544332211L)), h.accesses());
            assertEquals(0xCAFEF00D, f.memory.read32(0x5000), "the guest got the 4-byte MMIO read value");
            assertEquals(0x1122334455667788L, f.memory.read64(0x5008), "the guest got the 8-byte MMIO read value");
            assertEquals(5, f.vcpu.mmioExitCount());
        }
    }

    @Test
    void handlerCanStopTheRunAndTheGuestContinuesOnTheNextRun() {
        try (KvmFixture f = KvmFixture.create(false)) {
            f.loadLongMode(GuestPrograms.LONG_PORT_LOOP);
            RecordingExitHandler h = new RecordingExitHandler().stopAfter(3);

            assertEquals(ExitReason.STOPPED, f.vcpu.run(h));
            assertEquals("the exit handler asked to stop", f.vcpu.lastExit().detail());
            Regs r = f.vcpu.getRegs();
            assertEquals(KvmFixture.CODE + 9, r.rip(), "the third OUT is complete: rip is past it, at the jmp");
            assertEquals(3, r.rax());
            RecordingExitHandler h2 = new RecordingExitHandler().stopAfter(2);
            assertEquals(ExitReason.STOPPED, f.vcpu.run(h2));

            List<Long> values = new ArrayList<>();
            h.accesses().forEach(a -> values.add(a.value()));
            h2.accesses().forEach(a -> values.add(a.value()));
            assertEquals(List.of(1L, 2L, 3L, 4L, 5L), values, "each OUT is handled once, none lost between runs");
        }
    }

    @Test
    void stoppingRightAfterAnInCompletesTheInstructionFirst() {
        try (KvmFixture f = KvmFixture.create(false)) {
            f.loadRealMode(GuestPrograms.REAL_IO_IMAGE, KvmFixture.REAL_MODE_CODE);
            // Accesses: OUT 0x3f8, OUT 0x500 (word), OUT 0x500 (dword), IN 0x501 -> stop there.
            RecordingExitHandler h = new RecordingExitHandler().answeringIo((port, size) -> 0x5A).stopAfter(4);

            assertEquals(ExitReason.STOPPED, f.vcpu.run(h));

            assertEquals(Access.ioRead(0x501, 1, 0x5A), h.accesses().get(3));
            Regs r = f.vcpu.getRegs();
            assertEquals(0xDEADBE5AL, r.rax() & 0xFFFFFFFFL, "AL holds what IN returned once run() is back");
            assertEquals(0x1019, r.rip(), "rip is past the IN");
        }
    }

    @Test
    void longStringInputStoppedBetweenBatchesLeavesAConsistentResumableState() {
        try (KvmFixture f = KvmFixture.create(false)) {
            f.loadLongMode(GuestPrograms.LONG_REP_INSB);
            int[] next = {0};
            RecordingExitHandler h = new RecordingExitHandler().answeringIo((port, size) -> next[0]++ & 0xFF).stopAfter(1);
            int n = GuestPrograms.LONG_REP_INSB_COUNT;

            assertEquals(ExitReason.STOPPED, f.vcpu.run(h), "stop after the first batch");

            // A rep instruction may be interrupted between iterations: rcx/rdi say how far it got.
            int done = h.at(true, 0x530).size();
            assertTrue(done > 0 && done < n, "10000 bytes do not fit one kvm_run data page; read " + done);
            Regs r = f.vcpu.getRegs();
            assertEquals(n - done, r.get(Regs.Reg.RCX), "rcx counts the bytes still to read");
            assertEquals(0x80000 + done, r.get(Regs.Reg.RDI), "rdi points past the bytes stored");
            assertEquals(KvmFixture.CODE + 0xF, r.rip(), "rip still at the rep insb");

            RecordingExitHandler rest = new RecordingExitHandler().answeringIo((port, size) -> next[0]++ & 0xFF);
            assertEquals(ExitReason.HLT, f.vcpu.run(rest), "the instruction resumes where it stopped");
            assertEquals(n - done, rest.at(true, 0x530).size());
            assertTrue(f.vcpu.ioExitCount() > 1);
            byte[] got = new byte[n];
            f.memory.read(0x80000, got, 0, n);
            for (int i = 0; i < n; i++) {
                assertEquals((byte) i, got[i], "byte " + i + " in order, none lost or repeated");
            }
        }
    }

    @Test
    void cpuidBuiltForTheVcpuIsWhatTheGuestSees() {
        try (KvmFixture f = KvmFixture.create(false)) {
            KvmVcpu second = f.vm.createVcpu(1);
            List<CpuidEntry> cpuid = VcpuCpuid.forVcpu(f.kvm.supportedCpuid(), 1, 2);
            second.setCpuid(cpuid);
            f.memory.write(KvmFixture.CODE, GuestPrograms.LONG_CPUID, 0, GuestPrograms.LONG_CPUID.length);
            LongModeSetup.writeGdt(f.memory, KvmFixture.GDT);
            LongModeSetup.writeIdentityPageTables(f.memory, KvmFixture.PML4, 4L << 30);
            second.setupLongMode(KvmFixture.CODE, KvmFixture.STACK, KvmFixture.PML4, KvmFixture.GDT);
            RecordingExitHandler h = new RecordingExitHandler();

            assertEquals(ExitReason.HLT, second.run(h));

            List<Access> leaf1 = h.at(true, 0x510);
            assertEquals(2, leaf1.size(), "EBX and ECX of leaf 1: " + h.accesses());
            assertEquals(1, (leaf1.get(0).value() >>> 24) & 0xFF, "leaf 1 EBX[31:24] is the APIC id");
            assertTrue((leaf1.get(1).value() & (1L << 31)) != 0, "leaf 1 ECX has the hypervisor bit");
            boolean has0b = cpuid.stream().anyMatch(e -> e.function() == 0xB);
            if (has0b) {
                assertEquals(List.of(Access.ioWrite(0x511, 4, 1)), h.at(true, 0x511), "leaf 0xB EDX is the x2APIC id");
            }
            List<Access> kvmLeaf = h.at(true, 0x512);
            StringBuilder signature = new StringBuilder();
            for (Access a : kvmLeaf) {
                for (int i = 0; i < 4; i++) {
                    char c = (char) ((a.value() >>> (8 * i)) & 0xFF);
                    if (c != 0) {
                        signature.append(c);
                    }
                }
            }
            assertEquals("KVMKVMKVM", signature.toString());
        }
    }

    @Test
    void guestThatCannotContinueIsReportedWithItsRegisters() {
        try (KvmFixture f = KvmFixture.create(false)) {
            f.loadLongMode(GuestPrograms.LONG_UD2);
            RecordingExitHandler h = new RecordingExitHandler();

            ExitReason reason = f.vcpu.run(h);

            assertEquals("U", h.serialText(), "the guest ran up to the bad instruction");
            assertTrue(reason == ExitReason.SHUTDOWN || reason == ExitReason.INTERNAL_ERROR,
                    "ud2 without an IDT is a triple fault (or, under PVM, an emulation failure), got " + reason);
            VcpuExit exit = f.vcpu.lastExit();
            assertEquals(reason, exit.reason());
            assertTrue(reason.isFailure());
            assertTrue(exit.registers().contains("rip=0x"), exit.registers());
            assertTrue(exit.registers().contains("efer=0x"), exit.registers());
            assertTrue(exit.describe().startsWith("vCPU 0: " + reason), exit.describe());
        }
    }

    @Test
    void invalidSystemRegistersAreRefusedByKvmWithTheIoctlNamed() {
        try (KvmFixture f = KvmFixture.create(false)) {
            Sregs s = f.vcpu.getSregs();
            // Long mode with paging but without PAE is not a state x86 can be in.
            s.setCr0(Sregs.CR0_PE | Sregs.CR0_PG).setCr4(0).setEfer(Sregs.EFER_LME | Sregs.EFER_LMA);
            NativeException e = assertThrows(NativeException.class, () -> f.vcpu.setSregs(s));
            assertTrue(e.getMessage().startsWith("KVM_SET_SREGS on vCPU 0"), e.getMessage());
            assertEquals("EINVAL", e.errnoName());
        }
    }

    @Test
    void handlerExceptionEndsRunWithThatException() {
        try (KvmFixture f = KvmFixture.create(false)) {
            f.loadLongMode(GuestPrograms.LONG_SERIAL_IMAGE);
            RecordingExitHandler h = new RecordingExitHandler().onWrite(a -> {
                throw new IllegalStateException("device failed at port 0x" + Long.toHexString(a.address()));
            });
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> f.vcpu.run(h));
            assertEquals("device failed at port 0x3f8", e.getMessage());
            assertTrue(!f.vcpu.isRunning(), "run() left the vCPU free for the next run");
        }
    }
}
