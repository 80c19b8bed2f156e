package io.jvmm.chardev;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The guards of closed {@link SharedMemory} as the kernel sees them: the mappings of the empty
 * memfd "jvmm-closed-memory" in /proc/self/maps (not our own counter).
 */
public final class GuardMaps {
    private static final String GUARD = "jvmm-closed-memory";

    private GuardMaps() {
    }

    /** Bytes of this process's address space mapped from the guards' empty memfd. */
    public static long guardedBytes() {
        long total = 0;
        for (long[] r : guardRanges()) {
            total += r[1] - r[0];
        }
        return total;
    }

    /** True if a guard mapping covers the address. */
    public static boolean guards(long address) {
        for (long[] r : guardRanges()) {
            if (Long.compareUnsigned(address, r[0]) >= 0 && Long.compareUnsigned(address, r[1]) < 0) {
                return true;
            }
        }
        return false;
    }

    /** Sum of VmSize of this process (its whole address space), from /proc/self/status. */
    public static long vmSizeBytes() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmSize:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
                }
            }
            throw new IllegalStateException("no VmSize in /proc/self/status");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static java.util.List<long[]> guardRanges() {
        try {
            java.util.List<long[]> ranges = new java.util.ArrayList<>();
            for (String line : Files.readAllLines(Path.of("/proc/self/maps"))) {
                if (line.contains(GUARD)) {
                    String[] range = line.substring(0, line.indexOf(' ')).split("-");
                    ranges.add(new long[] {Long.parseUnsignedLong(range[0], 16), Long.parseUnsignedLong(range[1], 16)});
                }
            }
            return ranges;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
