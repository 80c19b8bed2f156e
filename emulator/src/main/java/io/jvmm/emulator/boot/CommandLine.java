package io.jvmm.emulator.boot;

import io.jvmm.pci.mem.GuestMemory;

import java.nio.charset.StandardCharsets;

/** The kernel command line: checked against the kernel's cmdline_size, written NUL-terminated. */
final class CommandLine {
    private CommandLine() {
    }

    /**
     * The bytes to write (without the NUL). {@code maxLength} is the kernel's limit (cmdline_size,
     * the count of characters without the NUL); our own area bounds it too.
     */
    static byte[] encode(String cmdline, long maxLength) {
        String text = cmdline == null ? "" : cmdline;
        if (text.indexOf('\0') >= 0) {
            throw new BootException("the kernel command line contains a NUL character");
        }
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        long limit = Math.min(maxLength, MemoryLayout.CMDLINE_AREA - 1);
        if (bytes.length > limit) {
            throw new BootException(String.format("the kernel command line is %d bytes; at most %d fit (%s)",
                    bytes.length, limit, limit == maxLength ? "the kernel's cmdline_size" : "jvmm's command-line area"));
        }
        return bytes;
    }

    /** Writes the bytes and a NUL at {@link MemoryLayout#CMDLINE_ADDR}. */
    static AddressRange write(byte[] bytes, GuestMemory memory) {
        memory.write(MemoryLayout.CMDLINE_ADDR, bytes, 0, bytes.length);
        memory.write8(MemoryLayout.CMDLINE_ADDR + bytes.length, 0);
        return new AddressRange("cmdline", MemoryLayout.CMDLINE_ADDR, MemoryLayout.CMDLINE_ADDR + bytes.length + 1);
    }
}
