package io.jvmm.emulator.boot;

import io.jvmm.pci.mem.GuestMemory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static io.jvmm.emulator.boot.MemoryLayout.MIB;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(60)
class BootloaderTest {
    @TempDir
    Path dir;
    private GuestMemory memory;

    @AfterEach
    void close() {
        if (memory != null) {
            memory.close();
        }
    }

    private MemoryLayout machine(long ram) {
        MemoryLayout layout = new MemoryLayout(ram);
        memory = layout.allocate();
        return layout;
    }

    private static SyntheticElf guest() {
        SyntheticElf elf = new SyntheticElf();
        elf.segment(0x10_0000, SyntheticElf.pattern(4096, 5), 0x2000);
        elf.entry = 0x10_0040;
        elf.pvhEntry = 0x10_0000;
        return elf;
    }

    @Test
    void elfPlanStartsEveryVcpuInLongModeWithItsOwnStack() throws IOException {
        MemoryLayout layout = machine(32 * MIB);
        BootPlan plan = Bootloader.load(guest().write(dir, "guest.elf"), null, "x=1", memory, layout, 2);

        assertEquals(BootKind.ELF, plan.kind());
        assertFalse(plan.secondaryCpusStartBySipi());
        assertEquals(0x10_0000, plan.pvhEntry().getAsLong());
        assertEquals(2, plan.cpuStates().size());
        for (int i = 0; i < 2; i++) {
            BootCpuState s = plan.cpuStates().get(i);
            assertEquals(i, s.index());
            assertEquals(0x10_0040, s.rip());
            assertEquals(MemoryLayout.stackTop(i), s.rsp());
            assertEquals(0, s.rsp() % 16);
            assertEquals(MemoryLayout.ZERO_PAGE_ADDR, s.rsi());
            assertEquals(i, s.rdi());
            assertEquals(2, s.rdx());
            assertEquals(0x2, s.rflags());
            assertEquals(BootCpuState.CR0_PE | BootCpuState.CR0_PG,
                    s.cr0() & (BootCpuState.CR0_PE | BootCpuState.CR0_PG));
            assertEquals(BootCpuState.CR4_PAE, s.cr4() & BootCpuState.CR4_PAE);
            assertEquals(BootCpuState.EFER_LME | BootCpuState.EFER_LMA, s.efer());
            assertEquals(MemoryLayout.PML4_ADDR, s.cr3());
            assertEquals(MemoryLayout.GDT_ADDR, s.gdtBase());
            assertEquals(0, s.idtLimit());
            assertEquals(0x08, s.code().selector());
            assertTrue(s.code().l() && !s.code().db());
            assertEquals(0x10, s.data().selector());
            assertEquals(0x18, s.tss().selector());
            // the GDT in memory holds what the vCPU is told
            assertEquals(s.code().encode(), memory.read64(s.gdtBase() + s.code().selector()));
            assertEquals(s.data().encode(), memory.read64(s.gdtBase() + s.data().selector()));
            // the stack lies in a reserved e820 range
            long top = s.rsp();
            assertTrue(layout.e820().stream().anyMatch(e -> e.type() == E820Entry.RESERVED
                    && e.address() <= top - MemoryLayout.STACK_SIZE && top <= e.end()), "stack reserved");
        }
        assertTrue(PageTableWalker.translate(memory, plan.cpuStates().get(0).cr3(), 0x10_0040).isPresent());
        assertEquals("_MP_", ascii(MemoryLayout.MP_TABLE_ADDR, 4));
        assertTrue(plan.describe().startsWith("ELF " + dir.resolve("guest.elf") + ": entry 0x100040, 2 vCPUs, zero page 0x7000;"),
                plan.describe());
    }

    @Test
    void linuxPlanStartsOnlyTheBootstrapVcpu() throws IOException {
        MemoryLayout layout = machine(64 * MIB);
        BootPlan plan = Bootloader.load(new SyntheticBzImage().write(dir, "bzImage"), null, "console=ttyS0", memory, layout, 2);
        assertEquals(BootKind.LINUX, plan.kind());
        assertTrue(plan.secondaryCpusStartBySipi());
        assertEquals(1, plan.cpuStates().size());
        BootCpuState bsp = plan.cpuStates().get(0);
        assertEquals(0x100_0200, bsp.rip());
        assertEquals(MemoryLayout.ZERO_PAGE_ADDR, bsp.rsi());
        assertEquals(0x10, bsp.code().selector(), "__BOOT_CS");
        assertEquals(0x18, bsp.data().selector(), "__BOOT_DS");
        assertEquals(bsp.code().encode(), memory.read64(MemoryLayout.GDT_ADDR + 0x10));
        assertFalse(plan.pvhEntry().isPresent());
        assertTrue(plan.describe().contains("(protocol 2.15, 6.99.0-synthetic (test@jvmm) #1)"), plan.describe());
        // two processors in the MP table even though only one vCPU state is handed out
        assertEquals(2, memory.read16(MemoryLayout.MP_TABLE_ADDR + 16 + 34) - 1 - 1 - 15 - 2);
    }

    @Test
    void reloadingIntoUsedMemoryLeavesNoStaleBootData() throws IOException {
        MemoryLayout layout = machine(32 * MIB);
        Path kernel = guest().write(dir, "guest.elf");
        Bootloader.load(kernel, null, "a-long-command-line", memory, layout, 4);
        byte[] rsdp = "RSD PTR ".getBytes(StandardCharsets.US_ASCII);
        memory.write(0xE_0000, rsdp, 0, rsdp.length);   // as if an earlier guest left a signature behind
        Bootloader.load(kernel, null, "short", memory, layout, 1);
        assertEquals(0L, memory.read64(0xE_0000), "legacy area cleared");
        assertEquals("short", ascii(MemoryLayout.CMDLINE_ADDR, 5));
        assertEquals(0, memory.read8(MemoryLayout.CMDLINE_ADDR + 5));
        assertEquals(0, memory.read8(MemoryLayout.CMDLINE_ADDR + 6), "old command line cleared");
        assertEquals(1 + 1 + 1 + 15 + 2, memory.read16(MemoryLayout.MP_TABLE_ADDR + 16 + 34), "MP table for one vCPU");
    }

    @Test
    void neitherBzImageNorElf() throws IOException {
        Path junk = dir.resolve("junk");
        Files.write(junk, "#!/bin/sh\necho not a kernel\n".getBytes(StandardCharsets.US_ASCII));
        MemoryLayout layout = machine(16 * MIB);
        BootException e = assertThrows(BootException.class, () -> Bootloader.load(junk, null, "", memory, layout, 1));
        assertEquals("kernel " + junk + " is neither a bzImage (no \"HdrS\" at offset 0x202) nor an ELF executable "
                + "(no \\x7fELF at offset 0); it is 28 bytes starting with 23 21 2f 62 69 6e 2f 73", e.getMessage());
    }

    @Test
    void emptyAndMissingKernels() throws IOException {
        Path empty = dir.resolve("empty");
        Files.createFile(empty);
        assertEquals("kernel " + empty + " is neither a bzImage (no \"HdrS\" at offset 0x202) nor an ELF executable "
                + "(no \\x7fELF at offset 0); it is 0 bytes starting with nothing",
                assertThrows(BootException.class, () -> Bootloader.detect(empty)).getMessage());
        Path missing = dir.resolve("missing");
        assertEquals("kernel " + missing + " does not exist or is not a regular file",
                assertThrows(BootException.class, () -> Bootloader.detect(missing)).getMessage());
        assertEquals("kernel " + dir + " does not exist or is not a regular file",
                assertThrows(BootException.class, () -> Bootloader.detect(dir)).getMessage());
    }

    @Test
    void missingInitrdAndBadCpuCount() throws IOException {
        MemoryLayout layout = machine(16 * MIB);
        Path kernel = guest().write(dir, "guest.elf");
        Path nope = dir.resolve("nope.cpio");
        assertEquals("initrd " + nope + " does not exist or is not a regular file",
                assertThrows(BootException.class, () -> Bootloader.load(kernel, nope, "", memory, layout, 1)).getMessage());
        assertEquals("-smp 0: jvmm boots 1 to 32 vCPUs",
                assertThrows(BootException.class, () -> Bootloader.load(kernel, null, "", memory, layout, 0)).getMessage());
        assertEquals("-smp 33: jvmm boots 1 to 32 vCPUs",
                assertThrows(BootException.class, () -> Bootloader.load(kernel, null, "", memory, layout, 33)).getMessage());
    }

    @Test
    void memoryMustBackTheLayout() throws IOException {
        Path kernel = guest().write(dir, "guest.elf");
        memory = GuestMemory.ofRam("small", 8 * MIB);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Bootloader.load(kernel, null, "", memory, new MemoryLayout(16 * MIB), 1));
        assertTrue(e.getMessage().contains("does not back ram-low [0x0-0x1000000)"), e.getMessage());
    }

    @Test
    void largeMachineGetsRamAbove4GibInTheZeroPage() throws IOException {
        MemoryLayout layout = machine(3 * MemoryLayout.GIB + 512 * MIB);   // memfd pages are only touched where written
        Bootloader.load(guest().write(dir, "guest.elf"), null, "", memory, layout, 1);
        int n = memory.read8(MemoryLayout.ZERO_PAGE_ADDR + ZeroPage.E820_ENTRIES);
        long last = MemoryLayout.ZERO_PAGE_ADDR + ZeroPage.E820_TABLE + (long) (n - 1) * E820Entry.SIZE;
        assertEquals(MemoryLayout.HIGH_RAM_START, memory.read64(last));
        assertEquals(512 * MIB, memory.read64(last + 8));
        assertEquals(E820Entry.RAM, memory.read32(last + 16));
    }

    private String ascii(long address, int length) {
        byte[] b = new byte[length];
        memory.read(address, b, 0, length);
        return new String(b, StandardCharsets.US_ASCII);
    }
}
