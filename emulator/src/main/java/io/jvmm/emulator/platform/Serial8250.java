package io.jvmm.emulator.platform;

import io.jvmm.pci.dispatch.IoCompletion;
import io.jvmm.pci.dispatch.IoHandler;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.OutputStream;
import java.util.ArrayDeque;
import java.util.concurrent.CompletableFuture;

/**
 * An 8250/16550A UART (the PC's COM1 at 0x3F8, IRQ 4): what the guest transmits goes to an
 * output stream (our stdout), what {@link #receive} is given the guest reads. Transmission is
 * instantaneous, so the transmitter is always empty; the FIFO flag is reported when enabled.
 * The interrupt line is level-triggered: raised while an enabled cause is pending.
 */
public final class Serial8250 implements IoHandler {
    private static final Logger log = LoggerFactory.getLogger(Serial8250.class);
    public static final int COM1 = 0x3f8;
    public static final int COM1_IRQ = 4;

    private static final int RBR_THR = 0;
    private static final int IER = 1;
    private static final int IIR_FCR = 2;
    private static final int LCR = 3;
    private static final int MCR = 4;
    private static final int LSR = 5;
    private static final int MSR = 6;
    private static final int SCR = 7;

    private static final int IER_RDA = 0x01;
    private static final int IER_THRE = 0x02;
    private static final int LCR_DLAB = 0x80;
    private static final int LSR_DR = 0x01;
    private static final int LSR_THRE = 0x20;
    private static final int LSR_TEMT = 0x40;
    private static final int IIR_NONE = 0x01;
    private static final int IIR_THRE = 0x02;
    private static final int IIR_RDA = 0x04;
    private static final int IIR_FIFO = 0xc0;
    private static final int MSR_CTS_DSR_DCD = 0xb0;
    private static final int RX_LIMIT = 4096;

    private final OutputStream out;
    private final IrqLine irq;
    private final ArrayDeque<Byte> rx = new ArrayDeque<>();
    private int ier;
    private int lcr;
    private int mcr;
    private int scr;
    private int divisor = 12;   // 9600 baud
    private boolean fifo;
    private boolean thrPending;
    private boolean level;

    public Serial8250(OutputStream out, IrqLine irq) {
        this.out = out;
        this.irq = irq;
    }

    /** Bytes typed at the host console, for the guest to read. Overflow beyond 4 KiB is dropped. */
    public synchronized void receive(byte[] bytes, int length) {
        for (int i = 0; i < length && rx.size() < RX_LIMIT; i++) {
            rx.add(bytes[i]);
        }
        updateIrq();
    }

    @Override
    public synchronized long read(long offset, int size) {
        long value = 0;
        for (int i = 0; i < size; i++) {   // a wide access reads consecutive registers
            value |= (long) readRegister((int) offset + i) << (8 * i);
        }
        updateIrq();
        return value;
    }

    private int readRegister(int reg) {
        boolean dlab = (lcr & LCR_DLAB) != 0;
        switch (reg) {
            case RBR_THR:
                if (dlab) {
                    return divisor & 0xff;
                }
                Byte b = rx.poll();
                return b == null ? 0 : b & 0xff;
            case IER:
                return dlab ? (divisor >> 8) & 0xff : ier;
            case IIR_FCR: {
                int iir = IIR_NONE;
                if ((ier & IER_RDA) != 0 && !rx.isEmpty()) {
                    iir = IIR_RDA;
                } else if ((ier & IER_THRE) != 0 && thrPending) {
                    iir = IIR_THRE;
                    thrPending = false;   // reading IIR with THRE as the cause acknowledges it
                }
                return iir | (fifo ? IIR_FIFO : 0);
            }
            case LCR:
                return lcr;
            case MCR:
                return mcr;
            case LSR:
                return LSR_THRE | LSR_TEMT | (rx.isEmpty() ? 0 : LSR_DR);
            case MSR:
                return MSR_CTS_DSR_DCD;
            case SCR:
                return scr;
            default:
                return 0xff;
        }
    }

    @Override
    public synchronized CompletableFuture<Void> write(long offset, int size, long value) {
        for (int i = 0; i < size; i++) {
            writeRegister((int) offset + i, (int) (value >>> (8 * i)) & 0xff);
        }
        updateIrq();
        return IoCompletion.DONE;
    }

    private void writeRegister(int reg, int value) {
        boolean dlab = (lcr & LCR_DLAB) != 0;
        switch (reg) {
            case RBR_THR:
                if (dlab) {
                    divisor = (divisor & 0xff00) | value;
                } else {
                    transmit(value);
                    thrPending = true;
                }
                break;
            case IER:
                if (dlab) {
                    divisor = (divisor & 0xff) | (value << 8);
                } else {
                    if ((value & IER_THRE) != 0 && (ier & IER_THRE) == 0) {
                        thrPending = true;   // enabling THRE with an empty transmitter interrupts at once
                    }
                    ier = value & 0x0f;
                }
                break;
            case IIR_FCR:
                fifo = (value & 0x01) != 0;
                if ((value & 0x02) != 0) {
                    rx.clear();
                }
                break;
            case LCR:
                lcr = value;
                break;
            case MCR:
                mcr = value & 0x1f;
                break;
            case SCR:
                scr = value;
                break;
            default:
                break;   // LSR and MSR are read-only
        }
    }

    private void transmit(int value) {
        try {
            out.write(value);
            out.flush();
        } catch (IOException e) {
            log.debug("serial output failed: {}", e.toString());
        }
    }

    private void updateIrq() {
        boolean next = ((ier & IER_RDA) != 0 && !rx.isEmpty()) || ((ier & IER_THRE) != 0 && thrPending);
        if (next != level) {
            level = next;
            irq.set(next);
        }
    }
}
