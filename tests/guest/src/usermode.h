/*
 * Running a plain C function at CPL3.
 *
 * Under PVM, guest CPL0 code is emulated one instruction at a time (~1 us each) while CPL3 code
 * runs natively, so bulk work over data - checking the 64 MiB a virtio-fs READ brought in - is
 * done in user mode: a few emulated instructions to get there and back, then native speed.
 *
 * The way in is an iretq to a user code segment. The way back is a hlt at a fixed address,
 * which at CPL3 raises #GP; our vector-13 gate recognises that address and returns to the
 * caller (anything else goes on to the ordinary exception report). Not syscall: PVM here
 * delivers it to LSTAR but leaves the vCPU at CPL3. Interrupts stay enabled in user mode and
 * are taken on the TSS's RSP0 stack. Only what paging_allow_user() opened is reachable from
 * CPL3.
 */
#ifndef GUEST_USERMODE_H
#define GUEST_USERMODE_H

/* Our GDT: the same kernel selectors as the boot GDTs, plus user segments and the TSS. */
#define KERNEL_CS 0x08
#define KERNEL_DS 0x10
#define USER_DS 0x18
#define USER_CS 0x20
#define TSS_SEL 0x28
#define USER_RPL 3
#define GP_VECTOR 13

#ifndef __ASSEMBLER__
#include "types.h"

/* Loads a GDT with user segments and a TSS (RSP0 = a stack for interrupts taken in user mode)
 * and installs the #GP gate that ends a user-mode call. Call after idt_init(). Idempotent.
 * Returns NULL or what failed. */
const char *usermode_init(void);

/* Runs fn(arg) at CPL3 with interrupts enabled, on a 16 KiB user stack, and returns its result.
 * fn's code, arg and all memory fn touches must be user-accessible (paging_allow_user). An
 * exception in user mode is reported and FAILs the guest like any other. */
u64 usermode_call(u64 (*fn)(void *), void *arg);
#endif

#endif
