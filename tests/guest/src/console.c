#include "console.h"
#include "cpu.h"

#define COM1 0x3F8
#define UART_THR 0      /* transmit holding register (DLAB=0) */
#define UART_IER 1
#define UART_DLL 0      /* divisor latch (DLAB=1) */
#define UART_DLM 1
#define UART_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_IIR 2
#define UART_LSR 5
#define LSR_THRE 0x20
#define IIR_FIFO_ENABLED 0xC0
#define FIFO_DEPTH 16

/* Polls of LSR before a byte is sent anyway: a UART whose THRE never sets must not hang us. */
#define THRE_POLL_LIMIT 10000

/* Bytes the transmitter takes after THRE: 16 with a 16550's FIFO, 1 on a plain 8250. Each LSR
 * poll is a VM exit, so filling the FIFO per poll halves the exits of console output. */
static unsigned tx_burst = 1;
static unsigned tx_room;

void console_init(void)
{
    outb(COM1 + UART_IER, 0x00);        /* no UART interrupts: output is polled */
    outb(COM1 + UART_LCR, 0x80);        /* DLAB on */
    outb(COM1 + UART_DLL, 0x01);        /* 115200 baud */
    outb(COM1 + UART_DLM, 0x00);
    outb(COM1 + UART_LCR, 0x03);        /* 8N1, DLAB off */
    outb(COM1 + UART_FCR, 0x07);        /* FIFOs on and cleared */
    outb(COM1 + UART_MCR, 0x03);        /* DTR|RTS; OUT2 off so IRQ 4 stays quiet */
    tx_burst = (inb(COM1 + UART_IIR) & IIR_FIFO_ENABLED) == IIR_FIFO_ENABLED ? FIFO_DEPTH : 1;
    tx_room = 0;
}

static void uart_put(char c)
{
    if (tx_room == 0) {
        for (int i = 0; i < THRE_POLL_LIMIT; i++)
            if (inb(COM1 + UART_LSR) & LSR_THRE)
                break;
        tx_room = tx_burst;
    }
    tx_room--;
    outb(COM1 + UART_THR, (u8)c);
}

void console_putc(char c)
{
    if (c == '\n')
        uart_put('\r');
    uart_put(c);
}

void console_write(const char *s, usize n)
{
    for (usize i = 0; i < n; i++)
        console_putc(s[i]);
}

static const char hexdigits[] = "0123456789abcdef";

static void put_unsigned(u64 v, unsigned base, int width, char pad)
{
    char buf[24];
    int n = 0;
    do {
        buf[n++] = hexdigits[v % base];
        v /= base;
    } while (v);
    while (n < width && n < (int)sizeof(buf))
        buf[n++] = pad;
    while (n)
        console_putc(buf[--n]);
}

void kvprintf(const char *fmt, __builtin_va_list ap)
{
    for (const char *p = fmt; *p; p++) {
        if (*p != '%') {
            console_putc(*p);
            continue;
        }
        p++;
        char pad = ' ';
        int width = 0, is_long = 0;
        if (*p == '0') {
            pad = '0';
            p++;
        }
        while (*p >= '0' && *p <= '9')
            width = width * 10 + (*p++ - '0');
        while (*p == 'l') {
            is_long = 1;
            p++;
        }
        switch (*p) {
        case 'd': {
            i64 v = is_long ? __builtin_va_arg(ap, i64) : __builtin_va_arg(ap, int);
            if (v < 0) {
                console_putc('-');
                v = -v;
            }
            put_unsigned((u64)v, 10, width, pad);
            break;
        }
        case 'u':
            put_unsigned(is_long ? __builtin_va_arg(ap, u64) : __builtin_va_arg(ap, u32), 10, width, pad);
            break;
        case 'x':
            put_unsigned(is_long ? __builtin_va_arg(ap, u64) : __builtin_va_arg(ap, u32), 16, width, pad);
            break;
        case 'p':
            console_write("0x", 2);
            put_unsigned((u64)__builtin_va_arg(ap, void *), 16, width, pad);
            break;
        case 'c':
            console_putc((char)__builtin_va_arg(ap, int));
            break;
        case 's': {
            const char *s = __builtin_va_arg(ap, const char *);
            if (!s)
                s = "(null)";
            while (*s)
                console_putc(*s++);
            break;
        }
        case '%':
            console_putc('%');
            break;
        case '\0':
            return;
        default:                        /* unknown conversion: show it rather than guess */
            console_putc('%');
            console_putc(*p);
        }
    }
}

void kprintf(const char *fmt, ...)
{
    __builtin_va_list ap;
    __builtin_va_start(ap, fmt);
    kvprintf(fmt, ap);
    __builtin_va_end(ap);
}

void print_hex_bytes(const void *p, usize n)
{
    const u8 *b = p;
    for (usize i = 0; i < n; i++) {
        console_putc(hexdigits[b[i] >> 4]);
        console_putc(hexdigits[b[i] & 15]);
    }
}
