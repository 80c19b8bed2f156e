/* Interrupt vector plan, shared by C and assembly. */
#ifndef GUEST_VECTORS_H
#define GUEST_VECTORS_H

/* Vectors with a counting stub: 0x20 is the APIC timer (the watchdog's clock); MSI-X vectors
 * are handed out from 0x30 upwards, one per virtqueue. */
#define IRQ_FIRST_VECTOR 0x20
#define IRQ_VECTOR_COUNT 0x30
#define TIMER_VECTOR 0x20
#define MSI_FIRST_VECTOR 0x30
#define SPURIOUS_VECTOR 0xFF

#ifndef __ASSEMBLER__
#include "types.h"

/* Interrupts taken per vector (index = vector - IRQ_FIRST_VECTOR); incremented by the stubs. */
extern volatile u32 irq_counts[IRQ_VECTOR_COUNT];
/* Address of the local APIC's EOI register, written by the stubs. */
extern u64 lapic_eoi_reg;

static inline u32 irq_count(unsigned vector)
{
    return irq_counts[vector - IRQ_FIRST_VECTOR];
}

/* Loads an IDT: exception handlers for 0-31, counting stubs for the IRQ range, spurious 0xFF. */
void idt_init(void);
/* Points IDT gate `vector` at handler (a 64-bit interrupt gate, DPL 0). */
void idt_set_gate(unsigned vector, u64 handler);
/* The exception stubs (vectors.S), for a handler that passes on what it does not handle. */
extern const u64 exception_stubs[32];
/* Loads an empty IDT, so the next exception escalates to a triple fault (fault=triple mode). */
void idt_load_empty(void);
#endif

#endif
