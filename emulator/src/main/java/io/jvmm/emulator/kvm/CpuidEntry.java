package io.jvmm.emulator.kvm;

import java.nio.ByteBuffer;

/**
 * One CPUID leaf ({@code struct kvm_cpuid_entry2}, 40 bytes). {@code flags} bit 0
 * ({@link #FLAG_SIGNIFICANT_INDEX}) says that {@code index} (ECX on input) selects the entry.
 */
public record CpuidEntry(int function, int index, int flags, int eax, int ebx, int ecx, int edx) {
    static final int SIZE = 40;
    public static final int FLAG_SIGNIFICANT_INDEX = 1;

    public CpuidEntry withEbx(int v) {
        return new CpuidEntry(function, index, flags, eax, v, ecx, edx);
    }

    public CpuidEntry withEcx(int v) {
        return new CpuidEntry(function, index, flags, eax, ebx, v, edx);
    }

    public CpuidEntry withEdx(int v) {
        return new CpuidEntry(function, index, flags, eax, ebx, ecx, v);
    }

    static CpuidEntry decode(ByteBuffer b, int at) {
        return new CpuidEntry(b.getInt(at), b.getInt(at + 4), b.getInt(at + 8), b.getInt(at + 12),
                b.getInt(at + 16), b.getInt(at + 20), b.getInt(at + 24));
    }

    void encode(ByteBuffer b, int at) {
        b.putInt(at, function);
        b.putInt(at + 4, index);
        b.putInt(at + 8, flags);
        b.putInt(at + 12, eax);
        b.putInt(at + 16, ebx);
        b.putInt(at + 20, ecx);
        b.putInt(at + 24, edx);
        b.putInt(at + 28, 0);
        b.putInt(at + 32, 0);
        b.putInt(at + 36, 0);
    }

    @Override
    public String toString() {
        return String.format("cpuid[0x%x.%d flags=%d] eax=0x%08x ebx=0x%08x ecx=0x%08x edx=0x%08x",
                function, index, flags, eax, ebx, ecx, edx);
    }
}
