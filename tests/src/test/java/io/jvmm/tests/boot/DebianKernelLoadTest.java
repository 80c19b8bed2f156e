package io.jvmm.tests.boot;

import io.jvmm.emulator.boot.BootKind;
import io.jvmm.emulator.boot.BootPlan;
import io.jvmm.emulator.boot.Bootloader;
import io.jvmm.emulator.boot.LinuxLoader;
import io.jvmm.emulator.boot.MemoryLayout;
import io.jvmm.emulator.boot.SetupHeader;
import io.jvmm.emulator.boot.ZeroPage;
import io.jvmm.pci.mem.GuestMemory;
import io.jvmm.tests.kvm.LinuxGuestImage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import static org.junit.jupiter.api.Assertions.*;

/**
 * jvmm's bzImage loader on the real Debian kernel and initramfs that scripts/build-guest-image
 * builds. Needs no KVM, so the Linux load path is checked even where a stock kernel cannot run.
 */
@Timeout(900)
class DebianKernelLoadTest {
    private static final long MIB = 1 << 20;

    @Test
    void theDebianKernelLoadsAtItsPreferredAddressWithAZeroPage() throws Exception {
        SetupHeader h = LinuxLoader.readHeader(LinuxGuestImage.kernel());
        assertTrue(h.version() >= 0x020C, h.versionText());
        assertTrue((h.xloadflags() & SetupHeader.XLF_KERNEL_64) != 0, "a 64-bit entry point");
        assertTrue(h.relocatable());
        assertTrue(h.kernelVersion().matches("\\d+\\.\\d+.*"), h.kernelVersion());

        MemoryLayout layout = new MemoryLayout(512 * MIB);
        GuestMemory memory = layout.allocate();
        try {
            BootPlan plan = Bootloader.load(LinuxGuestImage.kernel(), LinuxGuestImage.initrd(), "console=ttyS0", memory, layout, 2);
            assertEquals(BootKind.LINUX, plan.kind());
            assertTrue(plan.secondaryCpusStartBySipi(), "Linux starts its own APs");
            long code32 = Integer.toUnsignedLong(memory.read32(MemoryLayout.ZERO_PAGE_ADDR + ZeroPage.CODE32_START));
            assertEquals(code32 + 0x200, plan.entry());
            assertEquals(h.prefAddress(), code32, "a Debian kernel fits at its preferred address in 512 MiB");
            assertEquals(0xFF, memory.read8(MemoryLayout.ZERO_PAGE_ADDR + ZeroPage.TYPE_OF_LOADER));
            // The 64-bit entry of a bzImage's compressed head starts with cld (0xfc) in every kernel since 3.x.
            assertEquals(0xFC, memory.read8(plan.entry()), "byte at the 64-bit entry");
        } finally {
            memory.close();
        }
    }
}
