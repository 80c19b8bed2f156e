package io.jvmm.emulator.boot;

import java.util.List;
import java.util.OptionalLong;
import java.util.stream.Collectors;

/**
 * The result of loading: how each vCPU starts and where everything went.
 *
 * <p>{@code cpuStates} holds the state of every vCPU that starts running at once. For
 * {@link BootKind#ELF} that is every vCPU (each enters at the entry point with its own stack, RDI =
 * its index, RDX = the count; the machine makes all of them runnable). For {@link BootKind#LINUX}
 * it is the bootstrap vCPU only: the other vCPUs stay in their reset state, waiting for the INIT/SIPI
 * sequence Linux sends through its local APIC, as on real hardware.
 *
 * @param entry    the 64-bit entry point
 * @param zeroPage address of the zero page (RSI at entry)
 * @param pvhEntry an ELF's PVH (XEN_ELFNOTE_PHYS32_ENTRY) entry, if it has one
 * @param ranges   where the kernel, initrd, command line and boot structures went
 */
public record BootPlan(BootKind kind, int cpus, List<BootCpuState> cpuStates, long entry, long zeroPage,
                       OptionalLong pvhEntry, String kernelDescription, List<AddressRange> ranges) {
    public BootPlan {
        cpuStates = List.copyOf(cpuStates);
        ranges = List.copyOf(ranges);
    }

    /** True when only the bootstrap vCPU is started and the guest starts the others by INIT/SIPI. */
    public boolean secondaryCpusStartBySipi() {
        return kind == BootKind.LINUX;
    }

    /** One line for the log: what was booted and where it went. */
    public String describe() {
        return String.format("%s: entry 0x%x, %d vCPU%s, zero page 0x%x; %s", kernelDescription, entry, cpus,
                cpus == 1 ? "" : "s", zeroPage, ranges.stream().map(AddressRange::toString).collect(Collectors.joining(", ")));
    }
}
