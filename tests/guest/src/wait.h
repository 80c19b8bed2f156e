/* Interrupt-driven waiting with a watchdog. */
#ifndef GUEST_WAIT_H
#define GUEST_WAIT_H

#include "types.h"

/* Ticks (TIMER_TICK_MS each) a wait for a device interrupt may take before the guest fails. */
#define WATCHDOG_TICKS 500

/* Halts between interrupts until cond(arg) holds or max_ticks timer ticks have passed; returns
 * whether cond held. The condition is tested with interrupts off and followed by the atomic
 * "sti; hlt", so a wake-up arriving between test and halt is not lost. Needs the APIC timer
 * running (it is what ends a wait whose interrupt never comes). */
int wait_until(int (*cond)(void *), void *arg, u32 max_ticks);

#endif
