/* The 8250 UART at 0x3F8 and a small printf over it. */
#ifndef GUEST_CONSOLE_H
#define GUEST_CONSOLE_H

#include "types.h"

void console_init(void);
void console_putc(char c);
void console_write(const char *s, usize n);

/* printf subset: %s %c %d %u %x %p, length modifier l, flags '0' and width; %% prints '%'. */
void kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void kvprintf(const char *fmt, __builtin_va_list ap);

/* n bytes as lowercase hex, no separators. */
void print_hex_bytes(const void *p, usize n);

#endif
