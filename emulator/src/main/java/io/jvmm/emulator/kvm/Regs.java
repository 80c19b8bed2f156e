package io.jvmm.emulator.kvm;

import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * The general-purpose registers of a vCPU: a mutable copy of {@code struct kvm_regs} (144 bytes,
 * eighteen u64 in the order of {@link Reg}). Read with {@link KvmVcpu#getRegs()}, change, write
 * back with {@link KvmVcpu#setRegs(Regs)}.
 */
public final class Regs {
    /** The registers in kvm_regs order; the byte offset of each is {@code ordinal() * 8}. */
    public enum Reg {
        RAX, RBX, RCX, RDX, RSI, RDI, RSP, RBP, R8, R9, R10, R11, R12, R13, R14, R15, RIP, RFLAGS;

        int offset() {
            return ordinal() * 8;
        }
    }

    static final int SIZE = 144;
    /** RFLAGS bit 1 is reserved and always set; 0x2 is the value after reset. */
    public static final long RFLAGS_RESERVED = 0x2;
    public static final long RFLAGS_IF = 1L << 9;

    private final long[] values = new long[Reg.values().length];

    public Regs() {
        values[Reg.RFLAGS.ordinal()] = RFLAGS_RESERVED;
    }

    public long get(Reg r) {
        return values[r.ordinal()];
    }

    public Regs set(Reg r, long value) {
        values[r.ordinal()] = value;
        return this;
    }

    public long rip() {
        return get(Reg.RIP);
    }

    public Regs setRip(long v) {
        return set(Reg.RIP, v);
    }

    public long rsp() {
        return get(Reg.RSP);
    }

    public Regs setRsp(long v) {
        return set(Reg.RSP, v);
    }

    public long rflags() {
        return get(Reg.RFLAGS);
    }

    public Regs setRflags(long v) {
        return set(Reg.RFLAGS, v);
    }

    public long rax() {
        return get(Reg.RAX);
    }

    public Regs setRax(long v) {
        return set(Reg.RAX, v);
    }

    public long rsi() {
        return get(Reg.RSI);
    }

    /** The Linux 64-bit boot protocol passes the zero page in rsi. */
    public Regs setRsi(long v) {
        return set(Reg.RSI, v);
    }

    static Regs decode(ByteBuffer b) {
        Regs r = new Regs();
        for (Reg reg : Reg.values()) {
            r.values[reg.ordinal()] = b.getLong(reg.offset());
        }
        return r;
    }

    void encode(ByteBuffer b) {
        for (Reg reg : Reg.values()) {
            b.putLong(reg.offset(), values[reg.ordinal()]);
        }
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Regs other && Arrays.equals(values, other.values);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(values);
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder();
        for (Reg reg : Reg.values()) {
            if (sb.length() > 0) {
                sb.append(reg == Reg.R8 || reg == Reg.RIP ? '\n' : ' ');
            }
            sb.append(reg.name().toLowerCase()).append("=0x").append(Long.toHexString(values[reg.ordinal()]));
        }
        return sb.toString();
    }
}
