package io.jvmm.emulator.platform;

/** A level-triggered ISA interrupt line (KVM_IRQ_LINE into the in-kernel IOAPIC/PIC under KVM). */
@FunctionalInterface
public interface IrqLine {
    void set(boolean level);
}
