package io.jvmm.emulator.kvm;

import java.nio.ByteBuffer;

/** GDTR or IDTR ({@code struct kvm_dtable}, 16 bytes): base and limit (size - 1). */
public record DescriptorTable(long base, int limit) {
    static final int SIZE = 16;

    static DescriptorTable decode(ByteBuffer b, int at) {
        return new DescriptorTable(b.getLong(at), b.getShort(at + 8) & 0xFFFF);
    }

    void encode(ByteBuffer b, int at) {
        b.putLong(at, base);
        b.putShort(at + 8, (short) limit);
        for (int i = 10; i < SIZE; i++) {
            b.put(at + i, (byte) 0);
        }
    }

    @Override
    public String toString() {
        return String.format("base=0x%x limit=0x%x", base, limit);
    }
}
