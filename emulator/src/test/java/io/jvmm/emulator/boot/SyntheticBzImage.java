package io.jvmm.emulator.boot;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** Builds a bzImage-shaped file in a test: a setup header with chosen fields and a recognisable payload. */
final class SyntheticBzImage {
    int setupSects = 4;
    int bootFlag = 0xAA55;
    int magic = SetupHeader.MAGIC;
    int version = 0x020F;
    int loadflags = SetupHeader.LOADED_HIGH;
    int xloadflags = SetupHeader.XLF_KERNEL_64 | 0x2;
    long initrdAddrMax = 0x7FFF_FFFFL;
    long kernelAlignment = 0x20_0000;
    boolean relocatable = true;
    long cmdlineSize = 2047;
    long prefAddress = 0x100_0000;
    long initSize = 0x80_0000;
    /** End of the header as the jump at 0x200 encodes it (0x202 + offset). */
    int headerEnd = 0x26C;
    String kernelVersion = "6.99.0-synthetic (test@jvmm) #1";
    int payloadSize = 64 * 1024;

    /** The payload: byte i of the protected-mode kernel is (i * 7 + 3) & 0xff. */
    static int payloadByte(long i) {
        return (int) ((i * 7 + 3) & 0xFF);
    }

    byte[] build() {
        int setupBytes = (setupSects == 0 ? 5 : setupSects + 1) * 512;
        ByteBuffer b = ByteBuffer.allocate(setupBytes + payloadSize).order(ByteOrder.LITTLE_ENDIAN);
        b.put(0x1F1, (byte) setupSects);
        b.putShort(0x1FE, (short) bootFlag);
        b.put(0x200, (byte) 0xEB);
        b.put(0x201, (byte) (headerEnd - 0x202));
        b.putInt(0x202, magic);
        b.putShort(0x206, (short) version);
        b.put(0x211, (byte) loadflags);
        b.putInt(0x214, 0x10_0000);
        b.putInt(0x22C, (int) initrdAddrMax);
        b.putInt(0x230, (int) kernelAlignment);
        b.put(0x234, (byte) (relocatable ? 1 : 0));
        b.put(0x235, (byte) 21);
        b.putShort(0x236, (short) xloadflags);
        b.putInt(0x238, (int) cmdlineSize);
        b.putLong(0x258, prefAddress);
        b.putInt(0x260, (int) initSize);
        // kernel_version points at a string, less 0x200, inside the setup sectors
        int versionAt = 0x300;
        b.putShort(0x20E, (short) (versionAt - 0x200));
        byte[] v = kernelVersion.getBytes(StandardCharsets.US_ASCII);
        b.put(versionAt, v, 0, v.length);
        for (int i = 0; i < payloadSize; i++) {
            b.put(setupBytes + i, (byte) payloadByte(i));
        }
        return b.array();
    }

    Path write(Path dir, String name) throws IOException {
        Path p = dir.resolve(name);
        Files.write(p, build());
        return p;
    }
}
