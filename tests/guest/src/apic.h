/* The local APIC in xAPIC (MMIO) mode, its timer as a watchdog clock, and the legacy PIC. */
#ifndef GUEST_APIC_H
#define GUEST_APIC_H

#include "types.h"

/* Watchdog clock period. KVM's and QEMU's APIC timers count at 1 GHz; divided by 16 that is
 * 62.5 counts per microsecond. */
#define TIMER_TICK_MS 10

/* Masks the 8259 PICs and sets up this CPU's local APIC (software-enabled, TPR 0, LINT0 and
 * the error LVT masked). Returns NULL or what is wrong. */
const char *apic_init(void);
/* This CPU's APIC id, from the LAPIC ID register (usable on any CPU, before apic_init too). */
u32 apic_current_id(void);
u64 apic_base(void);
/* Periodic timer on TIMER_VECTOR every TIMER_TICK_MS, and its stop. */
void apic_timer_start(void);
void apic_timer_stop(void);
/* Timer interrupts taken so far. */
u32 apic_ticks(void);

#endif
