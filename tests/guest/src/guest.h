/* How the guest ends: a PASS/FAIL line on the console, then the debug-exit port. */
#ifndef GUEST_GUEST_H
#define GUEST_GUEST_H

#include "types.h"

#define DEBUG_EXIT_PORT 0x501
/* QEMU's isa-debug-exit (and jvmm's) ends the VM with status (v << 1) | 1: 33 and 35. */
#define DEBUG_EXIT_PASS 0x10
#define DEBUG_EXIT_FAIL 0x11

#define MAX_CPUS 32

NORETURN void guest_exit(u8 code);
NORETURN void guest_pass(void);
NORETURN void guest_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
