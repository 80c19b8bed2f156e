package io.jvmm.emulator.boot;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;

/**
 * The real-mode setup header of a bzImage (offset 0x1f1), read and checked against what jvmm needs:
 * boot protocol 2.06 or newer, a bzImage (loaded high) and the 64-bit entry point (XLF_KERNEL_64,
 * which only exists from protocol 2.12 on).
 */
public record SetupHeader(Path file, byte[] head, int setupSects, int version, int loadflags, long code32Start,
                          long initrdAddrMax, long kernelAlignment, boolean relocatable, int xloadflags,
                          long cmdlineSize, long prefAddress, long initSize, int headerEnd, long fileSize,
                          String kernelVersion) {
    public static final int MAGIC = 0x5372_6448;           // "HdrS"
    public static final int BOOT_FLAG = 0xAA55;
    public static final int MIN_VERSION = 0x0206;
    public static final int LOADED_HIGH = 0x01;
    public static final int XLF_KERNEL_64 = 0x01;
    /** The 64-bit entry point sits this far into the protected-mode kernel. */
    public static final long ENTRY_64_OFFSET = 0x200;
    /** Bytes of the file read to parse the header (the setup header ends before 0x290). */
    public static final int HEAD_BYTES = ZeroPage.SETUP_HEADER_LIMIT;

    static final int SETUP_SECTS = 0x1F1;
    static final int BOOT_FLAG_OFFSET = 0x1FE;
    static final int JUMP = 0x200;
    static final int KERNEL_VERSION = 0x20E;
    static final int INITRD_ADDR_MAX = 0x22C;
    static final int KERNEL_ALIGNMENT = 0x230;
    static final int RELOCATABLE_KERNEL = 0x234;
    static final int XLOADFLAGS = 0x236;
    static final int PREF_ADDRESS = 0x258;
    static final int INIT_SIZE = 0x260;

    /** Whether these first bytes of a file carry the bzImage magic. */
    public static boolean hasMagic(byte[] head, int length) {
        return length >= ZeroPage.HEADER_MAGIC + 4
                && ByteBuffer.wrap(head).order(ByteOrder.LITTLE_ENDIAN).getInt(ZeroPage.HEADER_MAGIC) == MAGIC;
    }

    /**
     * Parses and checks the header. {@code head} holds the file's first bytes (at least
     * {@link #HEAD_BYTES} unless the file is shorter; more lets the version string be read).
     */
    public static SetupHeader parse(Path file, byte[] head, int headLength, long fileSize) {
        if (!hasMagic(head, headLength)) {
            throw new BootException(String.format("kernel %s is not a bzImage: no \"HdrS\" magic at offset 0x202", file));
        }
        if (headLength < HEAD_BYTES) {
            throw new BootException(String.format("kernel %s is truncated: %d bytes, shorter than a setup header", file, fileSize));
        }
        ByteBuffer b = ByteBuffer.wrap(head, 0, headLength).order(ByteOrder.LITTLE_ENDIAN);
        int bootFlag = Short.toUnsignedInt(b.getShort(BOOT_FLAG_OFFSET));
        if (bootFlag != BOOT_FLAG) {
            throw new BootException(String.format("kernel %s is not a bzImage: boot_flag at 0x1fe is 0x%04x, expected 0xaa55", file, bootFlag));
        }
        int version = Short.toUnsignedInt(b.getShort(ZeroPage.VERSION));
        if (version < MIN_VERSION) {
            throw new BootException(String.format("kernel %s uses boot protocol %s, which is too old: jvmm needs 2.06 or newer",
                    file, versionString(version)));
        }
        int loadflags = Byte.toUnsignedInt(b.get(ZeroPage.LOADFLAGS));
        if ((loadflags & LOADED_HIGH) == 0) {
            throw new BootException(String.format("kernel %s is a zImage (LOADED_HIGH clear in loadflags): jvmm boots bzImages only", file));
        }
        int xloadflags = version >= 0x020C ? Short.toUnsignedInt(b.getShort(XLOADFLAGS)) : 0;
        if ((xloadflags & XLF_KERNEL_64) == 0) {
            throw new BootException(String.format(
                    "kernel %s (boot protocol %s) has no 64-bit entry point (XLF_KERNEL_64 not set in xloadflags): "
                            + "jvmm starts kernels in 64-bit mode and needs an x86-64 kernel with protocol 2.12 or newer",
                    file, versionString(version)));
        }
        int setupSects = Byte.toUnsignedInt(b.get(SETUP_SECTS));
        if (setupSects == 0) {
            setupSects = 4;    // the protocol's rule for very old images
        }
        long setupBytes = (setupSects + 1L) * 512;
        if (fileSize <= setupBytes) {
            throw new BootException(String.format("kernel %s is truncated: its setup takes %d bytes (setup_sects %d) but the file has %d",
                    file, setupBytes, setupSects, fileSize));
        }
        int headerEnd = JUMP + 2 + Byte.toUnsignedInt(b.get(JUMP + 1));
        if (headerEnd > ZeroPage.SETUP_HEADER_LIMIT || headerEnd < INIT_SIZE + 4) {
            throw new BootException(String.format("kernel %s has a malformed setup header: its jump at 0x200 says the header ends at 0x%x",
                    file, headerEnd));
        }
        long alignment = Integer.toUnsignedLong(b.getInt(KERNEL_ALIGNMENT));
        boolean relocatable = b.get(RELOCATABLE_KERNEL) != 0;
        if (relocatable && (alignment == 0 || Long.bitCount(alignment) != 1 || alignment < MemoryLayout.PAGE)) {
            throw new BootException(String.format("kernel %s is relocatable but its kernel_alignment 0x%x is not a power of two >= 4 KiB",
                    file, alignment));
        }
        return new SetupHeader(file, head, setupSects, version, loadflags,
                Integer.toUnsignedLong(b.getInt(ZeroPage.CODE32_START)),
                Integer.toUnsignedLong(b.getInt(INITRD_ADDR_MAX)),
                alignment, relocatable, xloadflags,
                Integer.toUnsignedLong(b.getInt(ZeroPage.CMDLINE_SIZE)),
                b.getLong(PREF_ADDRESS),
                Integer.toUnsignedLong(b.getInt(INIT_SIZE)),
                headerEnd, fileSize, kernelVersion(b, setupBytes, headLength));
    }

    /** Offset in the file of the protected-mode kernel. */
    public long kernelOffset() {
        return (setupSects + 1L) * 512;
    }

    /** Bytes of protected-mode kernel to load. */
    public long kernelSize() {
        return fileSize - kernelOffset();
    }

    public String versionText() {
        return versionString(version);
    }

    static String versionString(int version) {
        return (version >>> 8) + "." + String.format("%02d", version & 0xFF);
    }

    /** The human-readable version string kernel_version points at, when it lies in what was read. */
    private static String kernelVersion(ByteBuffer b, long setupBytes, int headLength) {
        int pointer = Short.toUnsignedInt(b.getShort(KERNEL_VERSION));
        if (pointer == 0) {
            return "";
        }
        long at = pointer + 0x200L;
        if (at >= setupBytes || at >= headLength) {
            return "";
        }
        StringBuilder s = new StringBuilder();
        for (int i = (int) at; i < headLength && s.length() < 160; i++) {
            int c = Byte.toUnsignedInt(b.get(i));
            if (c == 0) {
                break;
            }
            s.append(c >= 0x20 && c < 0x7F ? (char) c : '?');
        }
        return s.toString();
    }
}
